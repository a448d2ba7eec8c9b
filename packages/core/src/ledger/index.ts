export { diffRuns, type RunDiff } from "./diff.js";
export { GitLedger, type GitLedgerOptions, parseGitLedgerUri } from "./git.js";
export {
  type CompareOutcome,
  compareWithProduction,
  diffRecorded,
  type LoadedRun,
  loadRun,
  PROMOTION_PREDICATE_TYPE,
  type Promoter,
  type PromotionResult,
  promoteRun,
  provenanceOf,
  resolveRuns,
  rollbackModel,
  type Trust,
} from "./promote.js";
export { type Reproduction, readManifest, reproductionsIn } from "./query.js";
export { DirLedger, type LedgerStore, openLedger, type ProductionPointer } from "./store.js";
