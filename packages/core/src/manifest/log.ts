// How much of the end of a run's log the manifest's status.logTailDigest covers: the writer of
// the record (run/stages.ts) and its verifier (ledger/records.ts) must agree.
export const LOG_TAIL_BYTES = 64 * 1024;
