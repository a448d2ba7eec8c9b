// The ledger: where runs and production live. Commands read it only through LedgerReader, which
// verifies every record before anything shows or decides on it.
export { type ProductionChain, type Promotion, verifyChain } from "./chain.js";
export {
  checkDeployable,
  type DeployableResult,
  type DeployedPromotion,
  deployedPromotion,
  type NotDeployableCode,
  type NotDeployableReason,
  parseDigest,
  sha256OfFile,
} from "./deployable.js";
export { diffRuns, type RunDiff } from "./diff.js";
export { DirLedger } from "./dir.js";
export { GitLedger, type GitLedgerOptions, parseGitLedgerUri } from "./git.js";
export {
  ancestors,
  buildLineage,
  dataNode,
  descendants,
  fileNode,
  type LineageGraph,
  type LineageNode,
  type LineageOptions,
  type NodeId,
  parsePayloadManifest,
  promotionNode,
  resolveNodes,
  runNode,
} from "./graph.js";
export {
  describeMark,
  describeMarks,
  describeUncounted,
  INVALIDATION_PREDICATE_TYPE,
  INVALIDATIONS_FOLDER,
  type InvalidationAction,
  type InvalidationMark,
  type InvalidationPredicate,
  type InvalidationRecord,
  type InvalidationResult,
  type Invalidations,
  markLineage,
  productionWarnings,
  readInvalidationRecords,
  recordInvalidation,
  standingInvalidations,
} from "./invalidation.js";
export {
  type Direction,
  describeNode,
  type LineageView,
  lineageMermaid,
  lineageTree,
  lineageView,
  readLineage,
} from "./lineage.js";
export type { CurveStats, ListedRun, ListingEntry } from "./listing.js";
export { openLedger } from "./open.js";
export {
  assertSeedMatrix,
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
} from "./promote.js";
export { lineageProv, type ProvDocument } from "./prov.js";
export {
  checkKey,
  type Filter,
  matches,
  parseFilter,
  parseSort,
  type QueryRow,
  type QuerySpec,
  queryRuns,
  queryText,
  runValue,
  type SortKey,
} from "./query.js";
export { LedgerReader, type Reproduction } from "./reader.js";
export { type RecordTrust, type RunRecord, statementOf, type Trust } from "./records.js";
export { openRunIndex, RunIndex, runIndexPath, trustFingerprint } from "./run-index.js";
export { byFinish, type Pick, picks, type RunListing } from "./run-listing.js";
export type { LedgerSnapshot, LedgerStore, ProductionPointer } from "./types.js";
