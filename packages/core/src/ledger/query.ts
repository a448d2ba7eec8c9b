// Questions across runs: filter, sort, group and aggregate the verified runs of a ledger by one
// small set of keys. Pure: it works on records the reader verified (damaged ones never count).
//
// A key names one value of a run:
//   param.NAME            a parameter (dotted names reach into nested objects)
//   metric.[STAGE/]NAME   a final metric (metric.test/accuracy, metric.loss)
//   min|mean|max|last|count:[STAGE/]NAME   an aggregate over a curve's steps (min:train/loss)
//   label.KEY             a label
//   data                  any data entry's payload identity or bag digest (sha256:…)
//   data.NAME             the payload identity (else bag digest) of the data entry NAME
//   info.FIELD            a bag-info.txt field of any data entry
//   model, status, trust, commit, run, started, finished, wall (seconds)
// A filter is KEY OP VALUE, OP one of = != < <= > >= ~ (contains).
import type { RunManifest } from "../__generated__/index.js";
import { UsageError } from "../errors.js";
import { aggregate, type CurveStats, codeUnitOrder, type ListedRun } from "./listing.js";
import type { RunRecord } from "./records.js";

export type Value = number | string | undefined;
export type Op = "=" | "!=" | "<" | "<=" | ">" | ">=" | "~";
export interface Filter {
  key: string;
  op: Op;
  value: string;
}
export interface SortKey {
  key: string;
  descending: boolean;
}

export interface QuerySpec {
  filters: readonly Filter[];
  /** Extra columns (usually curve aggregates) each row carries under `values`. */
  columns?: readonly string[];
  sort?: readonly SortKey[];
  groupBy?: string;
  limit?: number;
  /** Only these runs (the lineage options, resolved by the caller). */
  runs?: ReadonlySet<string>;
  since?: string;
  until?: string;
}

export interface QueryRow {
  runId: string;
  model: string;
  status: string;
  trust: RunRecord["trust"];
  commit?: string;
  startedAt: string;
  finishedAt: string;
  wallSeconds?: number;
  params: Record<string, unknown>;
  metrics: Array<{ name: string; stage?: string; value: number }>;
  labels: Record<string, string>;
  data: Array<{ name: string; digest: string; payloadIdentity?: string; info?: Record<string, string[]> }>;
  /** The value of each key the query named (filters, columns, sort, group), by key. */
  values: Record<string, Value>;
  /** With --group-by: the group this row stands for (the first of the group in sort order). */
  group?: { key: string; value: Value; runs: number };
}

const AGGREGATES = ["min", "mean", "max", "last", "count"] as const;
const SIMPLE = ["model", "status", "trust", "commit", "run", "started", "finished", "wall", "data"];
const FILTER = /^(.+?)(!=|<=|>=|=|<|>|~)(.*)$/s;

/** Exit 2 naming the key and the keys there are. */
function badKey(key: string, where: string): UsageError {
  return new UsageError(
    "usage",
    `${where}: "${key}" is not a query key; use param.NAME, metric.[STAGE/]NAME, min|mean|max|last|count:[STAGE/]NAME, label.KEY, data, data.NAME, info.FIELD, model, status, trust, commit, run, started, finished or wall`,
  );
}

export function checkKey(key: string, where: string): string {
  const k = key.trim();
  if (SIMPLE.includes(k)) return k;
  const dot = /^(param|params|metric|metrics|label|labels|data|info)\.(.+)$/.exec(k);
  if (dot?.[2]) return k;
  const agg = /^([a-z]+):(.+)$/.exec(k);
  if (agg && (AGGREGATES as readonly string[]).includes(agg[1]!) && agg[2]) return k;
  throw badKey(key, where);
}

/** "KEY OP VALUE" (params.lr>0.01, metric.test/accuracy>=0.9, label.basin=Campos). */
export function parseFilter(text: string): Filter {
  const m = FILTER.exec(text.trim());
  if (!m?.[1] || m[3] === undefined)
    throw new UsageError(
      "usage",
      `filter "${text}" is not KEY OP VALUE; e.g. param.lr>0.01, metric.test/accuracy>=0.9, label.basin=Campos, data=sha256:…`,
    );
  return { key: checkKey(m[1], `filter "${text}"`), op: m[2] as Op, value: m[3].trim() };
}

/** "KEY" ascending, "-KEY" descending. */
export function parseSort(text: string): SortKey {
  const descending = text.startsWith("-");
  return { key: checkKey(descending ? text.slice(1) : text, `--sort "${text}"`), descending };
}

const metricName = (x: { name: string; stage?: string }) => (x.stage ? `${x.stage}/${x.name}` : x.name);

/** A metric by "[STAGE/]NAME": the staged name first, then an unstaged metric called that. */
function pick<T extends { name: string; stage?: string }>(xs: readonly T[], name: string): T[] {
  const exact = xs.filter((x) => metricName(x) === name);
  return exact.length ? exact : xs.filter((x) => !x.stage && x.name === name);
}

function lookup(obj: unknown, path: string): unknown {
  const o = obj as Record<string, unknown> | undefined;
  if (o && Object.hasOwn(o, path)) return o[path];
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const scalar = (v: unknown): Value =>
  typeof v === "number" || typeof v === "string"
    ? v
    : typeof v === "boolean"
      ? String(v)
      : v === undefined || v === null
        ? undefined
        : JSON.stringify(v);

const identityOf = (d: RunManifest["data"][number]) =>
  (d as { payloadIdentity?: string }).payloadIdentity ?? d.digest;
const labelsOf = (m: RunManifest) =>
  ((m as { labels?: Record<string, string> }).labels ?? {}) as Record<string, string>;
const infoOf = (d: RunManifest["data"][number]) => (d as { info?: Record<string, string[]> }).info;

/** The value a key names in a run (undefined when the run has none). */
export function runValue(r: RunRecord, key: string): Value {
  const m = r.manifest;
  if (!m) return undefined;
  switch (key) {
    case "model":
      return m.model;
    case "status":
      return m.status.state;
    case "trust":
      return r.trust;
    case "commit":
      return m.code.commit;
    case "run":
      return r.runId;
    case "started":
      return m.timing.startedAt;
    case "finished":
      return m.timing.finishedAt;
    case "wall":
      return m.timing.wallSeconds;
    case "data":
      return m.data.map(identityOf).join(",");
  }
  const agg = /^([a-z]+):(.+)$/.exec(key);
  if (agg && (r as ListedRun).listed) {
    // A listing keeps each curve's aggregates (listing.ts), not its steps.
    const stats = (r as ListedRun).curveStats?.[agg[2]!];
    if (!stats) return agg[1] === "count" ? 0 : undefined;
    return stats[agg[1] as keyof CurveStats];
  }
  if (agg) {
    const values = pick(m.metrics.curves ?? [], agg[2]!)
      .sort((a, b) => (a.step ?? 0) - (b.step ?? 0))
      .map((x) => x.value);
    if (!values.length) return agg[1] === "count" ? 0 : undefined;
    switch (agg[1]) {
      case "min":
        return aggregate(values).min;
      case "max":
        return aggregate(values).max;
      case "mean":
        return aggregate(values).mean;
      case "last":
        return values[values.length - 1];
      case "count":
        return values.length;
    }
    return undefined;
  }
  const [, ns, rest] = /^([a-z]+)\.(.+)$/.exec(key) ?? [];
  switch (ns) {
    case "param":
    case "params":
      return scalar(lookup(m.invocation.params, rest!));
    case "metric":
    case "metrics": {
      const found = pick(m.metrics.final, rest!);
      return found.length ? found[found.length - 1]!.value : undefined;
    }
    case "label":
    case "labels": {
      const labels = labelsOf(m);
      return Object.hasOwn(labels, rest!) ? labels[rest!] : undefined;
    }
    case "data": {
      const d = m.data.find((x) => x.name === rest);
      return d ? identityOf(d) : undefined;
    }
    case "info":
      for (const d of m.data) {
        const v = infoOf(d)?.[rest!];
        if (v?.length) return v.join(", ");
      }
      return undefined;
  }
  return undefined;
}

const asNumber = (s: string): number | undefined =>
  s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : undefined;
const hexOf = (s: string) =>
  s
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, "");

/** Whether a run passes a filter: numbers compare as numbers, times and text as text. */
export function matches(r: RunRecord, f: Filter): boolean {
  if (f.key === "data" && (f.op === "=" || f.op === "!=")) {
    const want = hexOf(f.value);
    const has = (r.manifest?.data ?? []).some((d) =>
      [identityOf(d), d.digest].some((x) => hexOf(x) === want),
    );
    return f.op === "=" ? has : !has;
  }
  if (f.key.startsWith("data.") && (f.op === "=" || f.op === "!=")) {
    const d = r.manifest?.data.find((x) => x.name === f.key.slice(5));
    const has = d !== undefined && [identityOf(d), d.digest].some((x) => hexOf(x) === hexOf(f.value));
    return f.op === "=" ? has : !has;
  }
  const v = runValue(r, f.key);
  if (v === undefined) return f.op === "!=";
  if (f.op === "~") return String(v).toLowerCase().includes(f.value.toLowerCase());
  if (f.key === "commit" && (f.op === "=" || f.op === "!=")) {
    const same = f.value.length >= 4 && String(v).toLowerCase().startsWith(f.value.toLowerCase());
    return f.op === "=" ? same : !same;
  }
  const n = asNumber(f.value);
  const c = typeof v === "number" && n !== undefined ? v - n : String(v).localeCompare(f.value);
  switch (f.op) {
    case "=":
      return c === 0;
    case "!=":
      return c !== 0;
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    case ">=":
      return c >= 0;
  }
}

function compare(a: Value, b: Value): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

/** Runs (verified, unsigned and untrusted; never damaged) that pass every filter, sorted, grouped, limited. */
export function queryRuns(records: readonly RunRecord[], spec: QuerySpec): QueryRow[] {
  const sort = spec.sort?.length ? spec.sort : [{ key: "started", descending: true }];
  const keys = [
    ...new Set([
      ...spec.filters.map((f) => f.key),
      ...(spec.columns ?? []),
      ...sort.map((s) => s.key),
      ...(spec.groupBy ? [spec.groupBy] : []),
    ]),
  ].filter((k) => k !== "data");
  let runs = records.filter(
    (r) =>
      r.manifest &&
      r.trust !== "damaged" &&
      (!spec.runs || spec.runs.has(r.runId)) &&
      (!spec.since || r.manifest.timing.startedAt >= spec.since) &&
      (!spec.until || r.manifest.timing.startedAt <= spec.until) &&
      spec.filters.every((f) => matches(r, f)),
  );
  // Each run's sort values, taken once.
  const values = new Map(runs.map((r) => [r, sort.map((s) => runValue(r, s.key))]));
  runs = runs.sort((a, b) => {
    const xa = values.get(a)!;
    const xb = values.get(b)!;
    for (const [i, s] of sort.entries()) {
      const va = xa[i];
      const vb = xb[i];
      // A run without the value sorts last either way.
      if (va === undefined || vb === undefined) {
        const c = compare(va, vb);
        if (c) return c;
        continue;
      }
      const c = compare(va, vb);
      if (c) return s.descending ? -c : c;
    }
    // Ties by run id, by code unit as every listing orders runs (and without loading a locale).
    return codeUnitOrder(a.runId, b.runId);
  });
  let rows = (spec.groupBy || spec.limit === undefined ? runs : runs.slice(0, spec.limit)).map((r) =>
    toRow(r, keys),
  );
  if (spec.groupBy) {
    const key = spec.groupBy;
    const groups = new Map<string, QueryRow[]>();
    for (const row of rows) {
      const id = JSON.stringify(row.values[key] ?? null);
      const g = groups.get(id) ?? [];
      groups.set(id, [...g, row]);
    }
    rows = [...groups.values()].map((g) => ({
      ...g[0]!,
      group: { key, value: g[0]!.values[key], runs: g.length },
    }));
  }
  return spec.limit !== undefined ? rows.slice(0, spec.limit) : rows;
}

function toRow(r: RunRecord, keys: readonly string[]): QueryRow {
  const m = r.manifest!;
  return {
    runId: r.runId,
    model: m.model,
    status: m.status.state,
    trust: r.trust,
    ...(m.code.commit ? { commit: m.code.commit } : {}),
    startedAt: m.timing.startedAt,
    finishedAt: m.timing.finishedAt,
    ...(m.timing.wallSeconds !== undefined ? { wallSeconds: m.timing.wallSeconds } : {}),
    params: { ...(m.invocation.params as Record<string, unknown> | undefined) },
    metrics: m.metrics.final.map((x) => ({
      name: x.name,
      ...(x.stage ? { stage: x.stage } : {}),
      value: x.value,
    })),
    labels: labelsOf(m),
    data: m.data.map((d) => {
      const identity = (d as { payloadIdentity?: string }).payloadIdentity;
      const info = infoOf(d);
      return {
        name: d.name,
        digest: d.digest,
        ...(identity ? { payloadIdentity: identity } : {}),
        ...(info ? { info } : {}),
      };
    }),
    values: Object.fromEntries(keys.map((k) => [k, runValue(r, k)])),
  };
}

/** A number as people read it: at most 6 significant digits. */
const short = (v: Value) => (typeof v === "number" ? String(Number(v.toPrecision(6))) : (v ?? "–"));

/** Rows as text: one block per run (or group), every value on it. */
export function queryText(rows: readonly QueryRow[], columns: readonly string[] = []): string {
  if (!rows.length) return "no run matches";
  return rows
    .map((r) => {
      const lines = [
        `${r.group ? `${r.group.key}=${short(r.group.value)} (${r.group.runs} run${r.group.runs === 1 ? "" : "s"}, best shown): ` : ""}${r.runId}  ${r.model}  ${r.status}${r.commit ? `  ${r.commit.slice(0, 12)}` : ""}${r.trust === "verified" ? "" : `  [${r.trust.toUpperCase()}]`}`,
      ];
      const params = Object.entries(r.params).map(
        ([k, v]) => `${k}=${typeof v === "number" ? short(v) : JSON.stringify(v)}`,
      );
      if (params.length) lines.push(`  params   ${params.join(" ")}`);
      if (r.metrics.length)
        lines.push(`  metrics  ${r.metrics.map((x) => `${metricName(x)}=${short(x.value)}`).join(" ")}`);
      const cols = columns.map((c) => `${c}=${short(r.values[c])}`);
      if (cols.length) lines.push(`  values   ${cols.join(" ")}`);
      const labels = Object.entries(r.labels).map(([k, v]) => `${k}=${v}`);
      if (labels.length) lines.push(`  labels   ${labels.join(" ")}`);
      for (const d of r.data) {
        const info = Object.entries(d.info ?? {}).map(([k, v]) => `${k}=${v.join(",")}`);
        lines.push(
          `  data     ${d.name} ${d.payloadIdentity ?? d.digest}${info.length ? `  ${info.join(" ")}` : ""}`,
        );
      }
      return lines.join("\n");
    })
    .join("\n");
}

/** The key a run's index values carry when its params nest deeper than they were listed. */
export const PARAMS_BEYOND = "param.*";

/** Every key of a run a query may filter on by the index (all but data and info), with its value. */
export function indexedValues(r: RunRecord): Array<[string, number | string]> {
  const m = r.manifest;
  if (!m || r.trust === "damaged") return [];
  const keys = ["model", "status", "trust", "commit", "run", "started", "finished", "wall"];
  for (const f of m.metrics.final) keys.push(`metric.${metricName(f)}`);
  const params = (path: string, v: unknown, depth: number) => {
    if (path) keys.push(`param.${path}`);
    if (!v || typeof v !== "object") return;
    // Deeper than any key needs: the run is kept for every param filter (PARAMS_BEYOND).
    if (depth >= 16) keys.push(PARAMS_BEYOND);
    else for (const [k, x] of Object.entries(v)) params(path ? `${path}.${k}` : k, x, depth + 1);
  };
  params("", m.invocation.params, 0);
  for (const k of Object.keys(labelsOf(m))) keys.push(`label.${k}`);
  const curves = (r as ListedRun).listed
    ? Object.keys((r as ListedRun).curveStats ?? {})
    : [...new Set((m.metrics.curves ?? []).map(metricName))];
  for (const c of curves) for (const a of AGGREGATES) keys.push(`${a}:${c}`);
  const out: Array<[string, number | string]> = [];
  for (const k of new Set(keys)) {
    const v = k === PARAMS_BEYOND ? "" : runValue(r, k);
    if (v !== undefined) out.push([k, v]);
  }
  return out;
}

/**
 * A query key as the index keeps its values (indexedValues: `param.`, `metric.`, `label.` for their
 * plural aliases); undefined for the keys it keeps none of: data and info are matched on the records,
 * and a run without a curve has count:NAME 0 with no value kept.
 */
export function indexKey(queryKey: string): string | undefined {
  const key = queryKey.replace(/^(param|metric|label)s\./, "$1.");
  if (key === "data" || key.startsWith("data.") || key.startsWith("info.") || key.startsWith("count:"))
    return undefined;
  return key;
}

/**
 * What the index can narrow a filter to, never leaving out a run the filter passes: the runs with
 * a value for the key (a run without one passes only `!=`), and for a number compared with < <= > >=
 * or =, those whose number compares so (text values are kept: they compare as text).
 */
export function indexFilter(
  f: Filter,
): { key: string; op?: "<" | "<=" | ">" | ">=" | "="; num?: number } | undefined {
  if (f.op === "!=") return undefined;
  const key = indexKey(f.key);
  if (key === undefined) return undefined;
  const n = asNumber(f.value);
  if (f.op === "~" || n === undefined || key === "commit") return { key };
  return { key, op: f.op, num: n };
}
