export { diffRuns, type RunDiff } from "./diff.js";
export { DirLedger, type LedgerStore, openLedger } from "./store.js";
