export { DirLedger, type LedgerStore, openLedger } from "./store.js";
