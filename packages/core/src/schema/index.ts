export { DEFAULT_POLICY, readJsonFile, readPolicyFile } from "./files.js";
export {
  type DocumentKind,
  type DocumentTypes,
  type Problem,
  schemaProblems,
  validateDocument,
} from "./validate.js";
