export {
  type DocumentKind,
  type DocumentTypes,
  type Problem,
  schemaProblems,
  validateDocument,
} from "./validate.js";
