// What a listing keeps of a run: the signed manifest without what no listing, query or lineage
// reads (host facts, the command line, curves' every step), small enough that a ledger of 10,000
// runs reads in milliseconds from the local index. Everything here is taken from a verified (or
// marked) record; commands that show or decide on one run read its whole record again (reader.ts).
import type { RunManifest } from "../__generated__/index.js";
import type { PromotionCopy, RunRecord } from "./records.js";

/** The aggregates of one curve (by "[STAGE/]NAME"), over its steps in step order. */
export interface CurveStats {
  min: number;
  max: number;
  mean: number;
  last: number;
  count: number;
}

/** A run as a listing holds it: `manifest` is slim (see slimManifest) and curves are their aggregates. */
export type ListedRun = RunRecord & { listed: true; curveStats?: Record<string, CurveStats> };

const curveName = (x: { name: string; stage?: string }) => (x.stage ? `${x.stage}/${x.name}` : x.name);

/** Min, max and mean of a curve's values, in one pass (a curve may have millions of steps). */
export function aggregate(values: readonly number[]): { min: number; max: number; mean: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: sum / values.length };
}

/** Each curve's min, max, mean, last and count, by "[STAGE/]NAME". */
export function curveStats(m: RunManifest): Record<string, CurveStats> | undefined {
  const curves = m.metrics.curves ?? [];
  if (!curves.length) return undefined;
  const by = new Map<string, Array<{ step: number; value: number }>>();
  for (const c of curves) {
    const k = curveName(c);
    if (!by.has(k)) by.set(k, []);
    by.get(k)!.push({ step: c.step ?? 0, value: c.value });
  }
  const out: Record<string, CurveStats> = {};
  for (const [k, xs] of by) {
    const values = xs.sort((a, b) => a.step - b.step).map((x) => x.value);
    out[k] = { ...aggregate(values), last: values[values.length - 1]!, count: values.length };
  }
  return out;
}

/** The manifest's fields listings, queries and the lineage graph read; the rest is left out. */
export function slimManifest(m: RunManifest): RunManifest {
  const { environment, code, invocation, metrics, status } = m;
  return {
    ...m,
    environment: {
      runtime: environment.runtime,
      ...(environment.image ? { image: environment.image } : {}),
    } as RunManifest["environment"],
    code: {
      kind: code.kind,
      ...(code.commit ? { commit: code.commit } : {}),
      ...(code.contentDigest ? { contentDigest: code.contentDigest } : {}),
    } as RunManifest["code"],
    invocation: {
      ...(invocation.params !== undefined ? { params: invocation.params } : {}),
      ...(invocation.seed !== undefined ? { seed: invocation.seed } : {}),
    } as RunManifest["invocation"],
    metrics: { final: metrics.final },
    status: { state: status.state, ...(status.exitCode !== undefined ? { exitCode: status.exitCode } : {}) },
  };
}

/** A record as a listing holds it (the stored bundle left out). */
export function listedRun(r: RunRecord): ListedRun {
  const { document: _document, ...rest } = r;
  if (!r.manifest) return { ...rest, listed: true };
  const stats = curveStats(r.manifest);
  return {
    ...rest,
    manifest: slimManifest(r.manifest),
    listed: true,
    ...(stats ? { curveStats: stats } : {}),
  };
}

/** Strings by code unit, as listings order run ids and ISO times (no locale over 10,000 of them). */
export const codeUnitOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** What a listing knows of a run without reading its slim record: enough to pick runs by column. */
export interface ListingEntry {
  runId: string;
  trust: RunRecord["trust"];
  model?: string;
  commit?: string;
  reproductionOf?: string;
  /** The folder key the index row was accepted under (run-index.ts), for reading its slim record. */
  folder?: string;
  /** When the run finished (the signed manifest's timing.finishedAt). */
  finishedAt?: string;
  promotionCopies?: PromotionCopy[];
}

export function listingEntry(r: RunRecord): ListingEntry {
  return {
    runId: r.runId,
    trust: r.trust,
    ...(r.manifest ? { model: r.manifest.model } : {}),
    ...(r.manifest?.code.commit ? { commit: r.manifest.code.commit } : {}),
    ...(r.manifest?.links?.reproductionOf ? { reproductionOf: r.manifest.links.reproductionOf } : {}),
    ...(r.manifest?.timing.finishedAt ? { finishedAt: r.manifest.timing.finishedAt } : {}),
    ...(r.promotionCopies?.length ? { promotionCopies: r.promotionCopies } : {}),
  };
}
