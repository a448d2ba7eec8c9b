// The public door of @track-run/core. Each capability folder has its own index.ts; import from here.
export type * from "./__generated__/index.js";
export * from "./bag/index.js";
export * from "./docker/index.js";
export * from "./doctor/index.js";
export * from "./errors.js";
export * from "./ledger/index.js";
export * from "./manifest/index.js";
export * from "./pin/index.js";
export * from "./policy/index.js";
export * from "./report/index.js";
export * from "./reproduce/index.js";
export * from "./run/index.js";
export * from "./schema/index.js";
export * from "./sign/index.js";
export { loadCommonJs } from "./util/interop.js";
export {
  assertName,
  assertOutputPath,
  isName,
  isOutputPath,
  NAME_PATTERN,
  NAME_RULE,
  type NameKind,
  OUTPUT_PATH_RULE,
  outputPathProblem,
} from "./util/names.js";
