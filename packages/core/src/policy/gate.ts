// The promotion gate: a candidate (one run, or a set of runs of one candidate, e.g. a seed matrix)
// against the production model's runs, by the model's policy. Pure: provenance facts come in.
import type { MetricValue, Policy, RunManifest } from "../__generated__/index.js";
import { formatNumber } from "../report/number.js";
import { describe, improvementTest, type Sample, type TestResult } from "./stats.js";

export interface ProvenanceFacts {
  /** Whether the run's bundle is signed and verifies against the trust policy. */
  signed: boolean;
  /** Whether every bag still validates with its recorded digest (undefined: not checked). */
  dataValid?: boolean;
  /**
   * When a bag no longer validates and the caller can tell how: per bag, the files that changed,
   * appeared or went missing against the recorded payload manifest, or why it could not be read.
   */
  dataChanges?: readonly DataChange[];
  /** Reproductions with a bitwise or within-tolerance verdict. */
  reproductions: number;
  /**
   * The invalidated inputs the run derives from, each as people read it (the input, the record and
   * its reason); absent or empty when it derives from none.
   */
  invalidatedBy?: string[];
}

export interface DataChange {
  /** The bag's name in the manifest. */
  name: string;
  changed?: readonly string[];
  added?: readonly string[];
  removed?: readonly string[];
  /** Why it does not validate when no file list says it: "data/train does not exist". */
  reason?: string;
}

const listed = (what: string, files: readonly string[] | undefined, at = 5) =>
  files?.length
    ? `${what} ${files.slice(0, at).join(", ")}${files.length > at ? ` and ${files.length - at} more` : ""}`
    : undefined;

/** "bag train: changed data/points.csv; added data/new.csv", or the bag's reason. */
export function describeDataChange(c: DataChange): string {
  const parts = [listed("changed", c.changed), listed("added", c.added), listed("removed", c.removed)].filter(
    (x): x is string => x !== undefined,
  );
  if (c.reason) parts.push(c.reason);
  return `bag ${c.name}: ${parts.length ? parts.join("; ") : "does not validate"}`;
}

export interface RuleResult {
  rule: string;
  metric?: string;
  value?: number;
  baseline?: number;
  delta?: number;
  threshold?: string;
  pass: boolean;
  reason: string;
}

/** A rule as people name it: "max_regression accuracy", "signed". */
export const ruleName = (r: RuleResult) => (r.metric ? `${r.rule} ${r.metric}` : r.rule);

/** A rule and why it passed or failed: "max_regression accuracy: worse by 0.03 …". */
export const describeRule = (r: RuleResult) => `${ruleName(r)}: ${r.reason}`;

export interface MetricSummary {
  name: string;
  direction: "higher" | "lower";
  candidate: Sample;
  baseline?: Sample;
  delta?: number;
  deltaPercent?: number;
  better?: boolean;
  test?: TestResult;
  significant?: boolean;
}

export interface GateVerdict {
  model: string;
  pass: boolean;
  firstModel: boolean;
  candidateRuns: string[];
  baselineRuns: string[];
  metrics: MetricSummary[];
  rules: RuleResult[];
  /** The level the seed-matrix tests are judged at (the policy's `significance`). */
  significance?: number;
  /** What a reader must know beside the verdict: a production derived from an invalidated input. */
  warnings?: string[];
}

const STAGE_PREFERENCE = ["test", "validation", undefined, "train"];

/** The metric a policy key names: "stage/name" exactly, or the name at the most final stage present. */
export function metricNamed(final: readonly MetricValue[], key: string): MetricValue | undefined {
  const slash = key.indexOf("/");
  if (slash > 0) {
    const stage = key.slice(0, slash);
    const name = key.slice(slash + 1);
    return final.find((x) => x.name === name && x.stage === stage) ?? final.find((x) => x.name === key);
  }
  const found = final.filter((x) => x.name === key);
  found.sort(
    (a: MetricValue, b: MetricValue) => STAGE_PREFERENCE.indexOf(a.stage) - STAGE_PREFERENCE.indexOf(b.stage),
  );
  return found[0];
}

/** The value a policy names: "stage/name" exactly, or the name at the most final stage present. */
export function metricValue(m: RunManifest, key: string): number | undefined {
  return metricNamed(m.metrics.final, key)?.value;
}

/** An amount of a policy: a number (absolute) or "x%" of the baseline. */
export function amount(a: number | string | undefined, of: number): number | undefined {
  if (a === undefined) return undefined;
  if (typeof a === "number") return a;
  return (Math.abs(of) * Number(a.slice(0, -1))) / 100;
}

/** Numbers in reasons as people read them: 0.002738, 1500 (never "15" for 1500.2), 1e-7. */
const fmt = (x: number | undefined) => formatNumber(x);

export function evaluateGate(
  policy: Policy,
  candidates: ReadonlyArray<{ manifest: RunManifest; provenance: ProvenanceFacts }>,
  baseline: readonly RunManifest[],
): GateVerdict {
  const rules: RuleResult[] = [];
  const metrics: MetricSummary[] = [];
  const firstModel = baseline.length === 0;
  const alpha = policy.significance ?? 0.05;

  for (const [key, rule] of Object.entries(policy.metrics ?? {})) {
    const values = candidates.map((c) => metricValue(c.manifest, key));
    const missing = candidates.filter((_, i) => values[i] === undefined).map((c) => c.manifest.runId);
    if (missing.length) {
      rules.push({
        rule: "reported",
        metric: key,
        pass: false,
        reason: `${key} is not reported by ${missing.join(", ")}`,
      });
      continue;
    }
    const cand = describe(values as number[]);
    const baseValues = baseline.map((b) => metricValue(b, key)).filter((v): v is number => v !== undefined);
    const base = baseValues.length ? describe(baseValues) : undefined;
    const summary: MetricSummary = { name: key, direction: rule.direction, candidate: cand };
    const sign = rule.direction === "higher" ? 1 : -1;
    if (base) {
      summary.baseline = base;
      summary.delta = cand.mean - base.mean;
      if (base.mean !== 0) summary.deltaPercent = (100 * summary.delta) / Math.abs(base.mean);
      summary.better = sign * summary.delta > 0;
      const t = improvementTest(cand, base, rule.direction);
      if (t) {
        summary.test = t;
        summary.significant = t.p < alpha;
      }
    }
    metrics.push(summary);

    if (rule.min !== undefined) {
      rules.push({
        rule: "min",
        metric: key,
        value: cand.mean,
        threshold: `>= ${rule.min}`,
        pass: cand.mean >= rule.min,
        reason:
          cand.mean >= rule.min
            ? `${fmt(cand.mean)} >= ${rule.min}`
            : `${fmt(cand.mean)} is below the minimum ${rule.min}`,
      });
    }
    if (rule.max !== undefined) {
      rules.push({
        rule: "max",
        metric: key,
        value: cand.mean,
        threshold: `<= ${rule.max}`,
        pass: cand.mean <= rule.max,
        reason:
          cand.mean <= rule.max
            ? `${fmt(cand.mean)} <= ${rule.max}`
            : `${fmt(cand.mean)} is above the maximum ${rule.max}`,
      });
    }
    if (!base) continue;
    const better = sign * (cand.mean - base.mean);
    const noise = amount(rule.noise, base.mean) ?? 0;
    const change = Math.abs(better) <= noise ? 0 : better;
    if (rule.max_regression !== undefined) {
      const limit = amount(rule.max_regression, base.mean)!;
      const pass = -change <= limit;
      rules.push({
        rule: "max_regression",
        metric: key,
        value: cand.mean,
        baseline: base.mean,
        delta: cand.mean - base.mean,
        threshold: `regression <= ${typeof rule.max_regression === "string" ? `${rule.max_regression} (${fmt(limit)})` : fmt(limit)}`,
        pass,
        reason: pass
          ? change < 0
            ? `worse by ${fmt(-change)}, within the allowed ${fmt(limit)}`
            : change === 0
              ? `no change beyond the noise band ${fmt(noise)}`
              : `better by ${fmt(change)}`
          : `worse by ${fmt(-change)} than production (${fmt(base.mean)}), more than the allowed ${fmt(limit)}`,
      });
    }
    if (rule.min_improvement !== undefined) {
      const need = amount(rule.min_improvement, base.mean)!;
      // 0 (the policy's default spelling) asks for no improvement: max_regression alone then governs.
      const bigEnough = need <= 0 || change >= need;
      const t = summary.test;
      const needsSignificance = need > 0 && cand.n >= 2;
      const significant = !needsSignificance || (t !== undefined && t.p < alpha);
      const pass = bigEnough && significant;
      rules.push({
        rule: "min_improvement",
        metric: key,
        value: cand.mean,
        baseline: base.mean,
        delta: cand.mean - base.mean,
        threshold: `improvement >= ${fmt(need)}${needsSignificance ? `, significant at ${alpha}` : ""}`,
        pass,
        reason:
          need <= 0
            ? "no improvement required"
            : !bigEnough
              ? `improvement ${fmt(change)} is less than the ${fmt(need)} worth promoting`
              : !significant
                ? `improvement ${fmt(change)} is not significant (p = ${t ? fmt(t.p) : "n/a"} >= ${alpha})`
                : `improvement ${fmt(change)}${t ? ` (p = ${fmt(t.p)})` : cand.n < 2 ? " (a single run: no spread, significance not assessed)" : ""}`,
      });
    }
  }

  const p = policy.provenance ?? {};
  const each = (
    name: string,
    ok: (c: (typeof candidates)[number]) => boolean,
    why: (c: (typeof candidates)[number]) => string,
    good: string,
  ) => {
    const bad = candidates.filter((c) => !ok(c));
    rules.push({
      rule: name,
      pass: bad.length === 0,
      reason: bad.length ? bad.map((c) => `${c.manifest.runId}: ${why(c)}`).join("; ") : good,
    });
  };
  if (p.signed)
    each(
      "signed",
      (c) => c.provenance.signed,
      () => "not signed by a trusted key or identity",
      "signed by a trusted key or identity",
    );
  if (p.image_pinned) {
    each(
      "image_pinned",
      (c) => c.manifest.environment.runtime === "host" || Boolean(c.manifest.environment.image?.repoDigest),
      (c) => `image ${c.manifest.environment.image?.reference ?? "?"} has no repository digest`,
      "image pinned by repository digest",
    );
  }
  if (p.clean_tree)
    each(
      "clean_tree",
      (c) => !c.manifest.code.dirty && c.manifest.code.kind === "git",
      (c) => (c.manifest.code.dirty ? "run on a dirty tree" : "not pinned by a commit"),
      "clean tree at a commit",
    );
  if (p.data_valid)
    each(
      "data_valid",
      (c) => c.provenance.dataValid === true,
      (c) =>
        c.provenance.dataValid !== false
          ? "bags not checked"
          : c.provenance.dataChanges?.length
            ? `a bag no longer validates (${c.provenance.dataChanges.map(describeDataChange).join("; ")})`
            : "a bag no longer validates",
      "every bag validates with its digest",
    );
  if (p.reproduced) {
    const need = p.reproduced;
    each(
      "reproduced",
      (c) => c.provenance.reproductions >= need,
      (c) => `reproduced ${c.provenance.reproductions} time(s), the policy asks ${need}`,
      `reproduced at least ${need} time(s)`,
    );
  }
  const invalidated = (c: (typeof candidates)[number]) => c.provenance.invalidatedBy ?? [];
  if (p.not_invalidated !== false)
    each(
      "not_invalidated",
      (c) => invalidated(c).length === 0,
      (c) => `derived from an invalidated input: ${invalidated(c).join("; ")}`,
      "derived from no invalidated input",
    );
  else if (candidates.some((c) => invalidated(c).length))
    // Off by policy: the checklist still says it, without refusing.
    rules.push({
      rule: "not_invalidated",
      pass: true,
      reason: `not refused (the policy sets not_invalidated: false), but ${candidates
        .filter((c) => invalidated(c).length)
        .map((c) => `${c.manifest.runId} is derived from an invalidated input: ${invalidated(c).join("; ")}`)
        .join("; ")}`,
    });
  for (const c of candidates) {
    if (c.manifest.status.state !== "succeeded")
      rules.push({
        rule: "status",
        pass: false,
        reason: `${c.manifest.runId} ${c.manifest.status.state}${c.manifest.status.reason ? `: ${c.manifest.status.reason}` : ""}`,
      });
    if (c.manifest.model !== policy.model)
      rules.push({
        rule: "model",
        pass: false,
        reason: `${c.manifest.runId} trains ${c.manifest.model}, the policy is for ${policy.model}`,
      });
  }
  return {
    model: policy.model,
    pass: rules.every((r) => r.pass),
    firstModel,
    candidateRuns: candidates.map((c) => c.manifest.runId),
    baselineRuns: baseline.map((b) => b.runId),
    metrics,
    rules,
    significance: alpha,
  };
}
