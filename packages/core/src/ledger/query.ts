// Reading recorded runs back from a ledger: one place that parses a run's manifest, and the
// reproductions of a run with their verdicts.
import type { RunManifest } from "../__generated__/index.js";
import type { Verdict } from "../reproduce/compare.js";
import type { LedgerStore } from "./store.js";

/** A recorded run's manifest, or undefined when the ledger has no such run. */
export async function readManifest(ledger: LedgerStore, runId: string): Promise<RunManifest | undefined> {
  const body = await ledger.readRunFile(runId, "manifest.json");
  return body ? (JSON.parse(body.toString("utf8")) as RunManifest) : undefined;
}

export interface Reproduction {
  runId: string;
  verdict?: Verdict;
  finishedAt: string;
}

/** The runs of the ledger that reproduce `runId`, with their verdicts. */
export async function reproductionsIn(ledger: LedgerStore, runId: string): Promise<Reproduction[]> {
  const out: Reproduction[] = [];
  for (const id of await ledger.listRuns()) {
    const m = await readManifest(ledger, id);
    if (m?.links?.reproductionOf !== runId) continue;
    const rep = await ledger.readRunFile(id, "reproduction.json");
    const verdict = rep ? (JSON.parse(rep.toString("utf8")) as { verdict: Verdict }).verdict : undefined;
    out.push({ runId: id, ...(verdict ? { verdict } : {}), finishedAt: m.timing.finishedAt });
  }
  return out;
}
