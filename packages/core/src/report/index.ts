export { COMMENT_LIMIT, type HistoryPoint, marker, type ReportInput, renderReport } from "./markdown.js";
