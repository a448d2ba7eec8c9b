// The verdict of a reproduction, from the two manifests: pure.
import type { MetricValue, Policy, RunManifest } from "../__generated__/index.js";

export type Verdict = "bitwise" | "within-tolerance" | "diverged" | "not-reproducible";

export interface MetricComparison {
  name: string;
  stage?: string;
  original?: number;
  reproduced?: number;
  delta?: number;
  /** The allowed difference (absolute), when the policy gives one. */
  tolerance?: number;
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

/** Absolute tolerance for a metric: a number, or "x%" of the original value. */
export function toleranceOf(policy: Policy | undefined, name: string, original: number): number | undefined {
  const t = policy?.metrics?.[name]?.tolerance;
  if (t === undefined) return undefined;
  if (typeof t === "number") return t;
  return (Math.abs(original) * Number(t.slice(0, -1))) / 100;
}

export function compareMetrics(
  original: RunManifest,
  reproduced: RunManifest,
  policy?: Policy,
): MetricComparison[] {
  const a = new Map(original.metrics.final.map((m) => [key(m), m]));
  const b = new Map(reproduced.metrics.final.map((m) => [key(m), m]));
  const out: MetricComparison[] = [];
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k);
    const y = b.get(k);
    const m = (x ?? y)!;
    const c: MetricComparison = { name: m.name, equal: false, within: false };
    if (m.stage) c.stage = m.stage;
    if (x) c.original = x.value;
    if (y) c.reproduced = y.value;
    if (x && y) {
      c.delta = y.value - x.value;
      c.equal = x.value === y.value;
      const t = toleranceOf(policy, m.name, x.value);
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

export function verdictOf(
  original: RunManifest,
  reproduced: RunManifest,
  metrics: MetricComparison[],
  outputs: OutputComparison[],
): { verdict: Exclude<Verdict, "not-reproducible">; reasons: string[] } {
  const reasons: string[] = [];
  if (original.status.state !== reproduced.status.state) {
    reasons.push(
      `the original ${original.status.state}, the reproduction ${reproduced.status.state}${reproduced.status.reason ? ` (${reproduced.status.reason})` : ""}`,
    );
  }
  for (const m of metrics) {
    const name = `${m.stage ? `${m.stage}/` : ""}${m.name}`;
    if (m.original === undefined) reasons.push(`metric ${name} is new: ${m.reproduced}`);
    else if (m.reproduced === undefined) reasons.push(`metric ${name} (${m.original}) was not reported`);
    else if (!m.within) {
      reasons.push(
        `metric ${name}: ${m.original} -> ${m.reproduced} (delta ${m.delta}${m.tolerance !== undefined ? `, tolerance ${m.tolerance}` : ", no tolerance in the policy"})`,
      );
    }
  }
  if (reasons.length) return { verdict: "diverged", reasons };
  const differing = outputs.filter((o) => !o.equal);
  if (differing.length === 0 && metrics.every((m) => m.equal)) return { verdict: "bitwise", reasons: [] };
  return {
    verdict: "within-tolerance",
    reasons: [
      ...metrics
        .filter((m) => !m.equal)
        .map(
          (m) =>
            `metric ${m.stage ? `${m.stage}/` : ""}${m.name} differs by ${m.delta}, within ${m.tolerance}`,
        ),
      ...differing.map(
        (o) =>
          `output ${o.path} ${o.original === undefined ? "is new" : o.reproduced === undefined ? "is missing" : "has other bytes"}`,
      ),
    ],
  };
}
