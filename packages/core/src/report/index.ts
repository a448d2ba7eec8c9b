export { CHART_COLORS, historyChart, MAX_CHART_PROMOTIONS, shortLabel } from "./chart.js";
export {
  COMMENT_LIMIT,
  type HistoryPoint,
  markdownText,
  marker,
  type ReportInput,
  renderReport,
} from "./markdown.js";
export { formatDelta, formatNumber, plural } from "./number.js";
