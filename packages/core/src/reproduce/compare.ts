// The verdict of a reproduction, from the two manifests: pure.
import type { MetricValue, Policy, RunManifest } from "../__generated__/index.js";
import { metricNamed } from "../policy/gate.js";
import { formatDelta, formatNumber } from "../report/number.js";

export type Verdict = "bitwise" | "within-tolerance" | "diverged" | "not-reproducible";

export interface MetricComparison {
  name: string;
  stage?: string;
  original?: number;
  reproduced?: number;
  delta?: number;
  /** The allowed difference (absolute), when the policy gives one. */
  tolerance?: number;
  /** The policy key whose rule applies ("test/accuracy" or "accuracy"), when one does. */
  rule?: string;
  /** Whether this metric decides the verdict: the policy gates it, or the policy gates no metric. */
  gated: boolean;
  equal: boolean;
  within: boolean;
}

export interface OutputComparison {
  path: string;
  original?: string;
  reproduced?: string;
  equal: boolean;
}

export interface EnvironmentDifference {
  fact: string;
  original: string;
  reproduced: string;
}

const key = (m: MetricValue) => `${m.stage ?? ""}/${m.name}`;
const label = (m: { name: string; stage?: string }) => `${m.stage ? `${m.stage}/` : ""}${m.name}`;

/** Absolute tolerance of the policy key `rule` for a metric: a number, or "x%" of the original value. */
export function toleranceOf(policy: Policy | undefined, rule: string, original: number): number | undefined {
  const t = policy?.metrics?.[rule]?.tolerance;
  if (t === undefined) return undefined;
  if (typeof t === "number") return t;
  return (Math.abs(original) * Number(t.slice(0, -1))) / 100;
}

/**
 * The policy key whose rule applies to metric `m` of a run that reported `final`, as the gate reads
 * keys (docs/policy.md): "stage/name" names that stage's value; a bare name names the value at the
 * most final stage reported. `gated` says whether that key is the one the gate reads for `m`; a
 * bare key still lends its tolerance to the name's other stages, which it does not gate.
 */
function ruleOf(
  policy: Policy | undefined,
  m: MetricValue,
  final: readonly MetricValue[],
): { rule: string; gated: boolean } | undefined {
  const keys = Object.keys(policy?.metrics ?? {});
  const qualified = m.stage ? `${m.stage}/${m.name}` : undefined;
  const ordered = [...keys].sort((a, b) => Number(b === qualified) - Number(a === qualified));
  for (const k of ordered) if (metricNamed(final, k) === m) return { rule: k, gated: true };
  if (keys.includes(m.name)) return { rule: m.name, gated: false };
  return undefined;
}

/**
 * Each final metric of either run, compared. With a policy that gates metrics, the gated ones
 * decide the verdict and the others are listed beside it; without one, every metric decides.
 */
export function compareMetrics(
  original: RunManifest,
  reproduced: RunManifest,
  policy?: Policy,
): MetricComparison[] {
  const a = new Map(original.metrics.final.map((m) => [key(m), m]));
  const b = new Map(reproduced.metrics.final.map((m) => [key(m), m]));
  const gatesMetrics = Object.keys(policy?.metrics ?? {}).length > 0;
  const out: MetricComparison[] = [];
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k);
    const y = b.get(k);
    const m = (x ?? y)!;
    const inOriginal = x ? ruleOf(policy, x, original.metrics.final) : undefined;
    const inReproduction = y ? ruleOf(policy, y, reproduced.metrics.final) : undefined;
    const rule = inOriginal?.gated
      ? inOriginal
      : inReproduction?.gated
        ? inReproduction
        : (inOriginal ?? inReproduction);
    const c: MetricComparison = {
      name: m.name,
      gated: !gatesMetrics || rule?.gated === true,
      equal: false,
      within: false,
    };
    if (m.stage) c.stage = m.stage;
    if (rule) c.rule = rule.rule;
    if (x) c.original = x.value;
    if (y) c.reproduced = y.value;
    if (x && y) {
      c.delta = y.value - x.value;
      c.equal = x.value === y.value;
      const t = rule ? toleranceOf(policy, rule.rule, x.value) : undefined;
      if (t !== undefined) c.tolerance = t;
      c.within = c.equal || (t !== undefined && Math.abs(c.delta) <= t);
    }
    out.push(c);
  }
  return out;
}

export function compareOutputs(original: RunManifest, reproduced: RunManifest): OutputComparison[] {
  const a = new Map(original.outputs.map((o) => [o.path, o.sha256]));
  const b = new Map(reproduced.outputs.map((o) => [o.path, o.sha256]));
  return [...new Set([...a.keys(), ...b.keys()])].sort().map((path) => {
    const c: OutputComparison = { path, equal: a.get(path) !== undefined && a.get(path) === b.get(path) };
    if (a.has(path)) c.original = a.get(path)!;
    if (b.has(path)) c.reproduced = b.get(path)!;
    return c;
  });
}

/** The facts that explain a divergence: GPU, driver, CUDA, CPU, engine, kernel, OS, image. */
export function environmentDifferences(
  original: RunManifest,
  reproduced: RunManifest,
): EnvironmentDifference[] {
  const a = original.environment;
  const b = reproduced.environment;
  const gpu = (e: typeof a, f: (g: NonNullable<typeof a.gpus>[number]) => string | undefined) =>
    (e.gpus ?? []).map((g) => f(g) ?? "?").join(", ") || "none";
  const facts: Array<[string, string, string]> = [
    ["GPU model", gpu(a, (g) => g.name), gpu(b, (g) => g.name)],
    ["GPU driver", gpu(a, (g) => g.driverVersion), gpu(b, (g) => g.driverVersion)],
    ["CUDA", gpu(a, (g) => g.cudaVersion), gpu(b, (g) => g.cudaVersion)],
    [
      "CPU",
      `${a.host?.cpuCount ?? "?"} x ${a.host?.cpuModel ?? "?"}`,
      `${b.host?.cpuCount ?? "?"} x ${b.host?.cpuModel ?? "?"}`,
    ],
    ["engine", a.host?.dockerVersion ?? "none", b.host?.dockerVersion ?? "none"],
    ["kernel", a.host?.kernel ?? "?", b.host?.kernel ?? "?"],
    ["OS", a.host?.os ?? "?", b.host?.os ?? "?"],
    ["image", a.image?.id ?? "none", b.image?.id ?? "none"],
    ["runtime", a.runtime, b.runtime],
  ];
  return facts.filter(([, x, y]) => x !== y).map(([fact, x, y]) => ({ fact, original: x, reproduced: y }));
}

/** Why a metric is not as it was: new, missing, or outside its tolerance (undefined when within). */
function metricProblem(m: MetricComparison): string | undefined {
  const name = label(m);
  if (m.original === undefined) return `metric ${name} is new: ${m.reproduced}`;
  if (m.reproduced === undefined) return `metric ${name} (${m.original}) was not reported`;
  if (m.within) return undefined;
  return `metric ${name}: ${m.original} -> ${m.reproduced} (delta ${formatDelta(m.delta, 6)}${m.tolerance !== undefined ? `, tolerance ${formatNumber(m.tolerance, 6)}` : m.gated ? ", no tolerance in the policy" : ""})`;
}

const outputDifference = (o: OutputComparison) =>
  `output ${o.path} ${o.original === undefined ? "is new" : o.reproduced === undefined ? "is missing" : "has other bytes"}`;

/**
 * The per-step curves (loss per epoch, time per epoch, …) that differ between the runs, as lines:
 * listed beside the verdict, never deciding it (a curve of wall time differs on every run; the
 * final values that decide are compared by compareMetrics).
 */
export function curveDifferences(original: RunManifest, reproduced: RunManifest): string[] {
  const byCurve = (m: RunManifest) => {
    const out = new Map<string, Map<number, number>>();
    for (const c of m.metrics.curves ?? []) {
      const steps = out.get(label(c)) ?? new Map<number, number>();
      out.set(label(c), steps);
      steps.set(c.step ?? steps.size, c.value);
    }
    return out;
  };
  const a = byCurve(original);
  const b = byCurve(reproduced);
  const out: string[] = [];
  const steps = (n: number) => `${n} step${n === 1 ? "" : "s"}`;
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(name);
    const y = b.get(name);
    if (!x || !y) {
      out.push(
        x
          ? `curve ${name} (${steps(x.size)}) was not reported; curves do not decide the verdict`
          : `curve ${name} is new (${steps(y!.size)}); curves do not decide the verdict`,
      );
      continue;
    }
    const all = new Set([...x.keys(), ...y.keys()]);
    let differing = 0;
    let largest = 0;
    for (const s of all) {
      const u = x.get(s);
      const v = y.get(s);
      if (u === v) continue;
      differing++;
      if (u !== undefined && v !== undefined && Math.abs(v - u) > Math.abs(largest)) largest = v - u;
    }
    if (differing)
      out.push(
        `curve ${name} differs at ${differing} of ${steps(all.size)}${largest ? ` (largest delta ${formatDelta(largest, 6)})` : ""}; curves do not decide the verdict`,
      );
  }
  return out;
}

/**
 * The verdict rests on the run's status, its outputs and the metrics that decide (see
 * compareMetrics): `reasons` say why it is what it is; `differences` list everything else that
 * differs and did not decide it (metrics the policy does not gate; curves; outputs of a diverged run).
 */
export function verdictOf(
  original: RunManifest,
  reproduced: RunManifest,
  metrics: MetricComparison[],
  outputs: OutputComparison[],
): { verdict: Exclude<Verdict, "not-reproducible">; reasons: string[]; differences: string[] } {
  const reasons: string[] = [];
  if (original.status.state !== reproduced.status.state) {
    reasons.push(
      `the original ${original.status.state}, the reproduction ${reproduced.status.state}${reproduced.status.reason ? ` (${reproduced.status.reason})` : ""}`,
    );
  }
  const deciding = metrics.filter((m) => m.gated);
  const differences = [
    ...metrics
      .filter((m) => !m.gated && !m.equal)
      .map(
        (m) =>
          `${metricProblem(m) ?? `metric ${label(m)} differs by ${formatDelta(m.delta, 6)}, within ${formatNumber(m.tolerance, 6)}`}; not gated by the policy, so it does not decide the verdict`,
      ),
    ...curveDifferences(original, reproduced),
  ];
  for (const m of deciding) {
    const problem = metricProblem(m);
    if (problem) reasons.push(problem);
  }
  const differing = outputs.filter((o) => !o.equal);
  if (reasons.length)
    return {
      verdict: "diverged",
      reasons,
      differences: [...differences, ...differing.map(outputDifference)],
    };
  if (differing.length === 0 && deciding.every((m) => m.equal))
    return { verdict: "bitwise", reasons: [], differences };
  return {
    verdict: "within-tolerance",
    reasons: [
      ...deciding
        .filter((m) => !m.equal)
        .map(
          (m) =>
            `metric ${label(m)} differs by ${formatDelta(m.delta, 6)}, within ${formatNumber(m.tolerance, 6)}`,
        ),
      ...differing.map(outputDifference),
    ],
    differences,
  };
}
