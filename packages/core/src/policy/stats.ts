// Statistics for comparing sets of runs: mean, standard deviation, and a one-sided Welch t-test.

export interface Sample {
  n: number;
  mean: number;
  /** Sample standard deviation (n-1); 0 for a single run. */
  sd: number;
}

export function describe(values: readonly number[]): Sample {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, sd };
}

/** ln Γ(x), Lanczos approximation (g=7, n=9). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = c[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised incomplete beta I_x(a, b), by its continued fraction (Numerical Recipes' betacf). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  const cf = (xx: number, aa: number, bb: number) => {
    const tiny = 1e-300;
    let c = 1;
    let d = 1 - ((aa + bb) * xx) / (aa + 1);
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    let h = d;
    for (let m = 1; m <= 300; m++) {
      const m2 = 2 * m;
      let num = (m * (bb - m) * xx) / ((aa + m2 - 1) * (aa + m2));
      d = 1 + num * d;
      if (Math.abs(d) < tiny) d = tiny;
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      d = 1 / d;
      h *= d * c;
      num = (-(aa + m) * (aa + bb + m) * xx) / ((aa + m2) * (aa + m2 + 1));
      d = 1 + num * d;
      if (Math.abs(d) < tiny) d = tiny;
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      d = 1 / d;
      const del = d * c;
      h *= del;
      if (Math.abs(del - 1) < 1e-14) break;
    }
    return h;
  };
  return x < (a + 1) / (a + b + 2) ? (front * cf(x, a, b)) / a : 1 - (front * cf(1 - x, b, a)) / b;
}

/** P(T > t) for Student's t with `df` degrees of freedom. */
export function studentTUpper(t: number, df: number): number {
  const p = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? p : 1 - p;
}

export interface TestResult {
  /** One-sided p-value that the candidate is better than the baseline (in the metric's direction). */
  p: number;
  df: number;
  t: number;
  method: "welch" | "one-sample";
}

/**
 * One-sided test that `candidate` is better than `baseline`: Welch's t-test for two sets, a
 * one-sample t-test against a single baseline value. Undefined when the candidate has no spread to
 * test with (a single run, or identical values).
 */
export function improvementTest(
  candidate: Sample,
  baseline: Sample,
  direction: "higher" | "lower",
): TestResult | undefined {
  const sign = direction === "higher" ? 1 : -1;
  const diff = sign * (candidate.mean - baseline.mean);
  if (candidate.n < 2) return undefined;
  if (baseline.n >= 2) {
    const va = candidate.sd ** 2 / candidate.n;
    const vb = baseline.sd ** 2 / baseline.n;
    const se = Math.sqrt(va + vb);
    if (se === 0) return undefined;
    const df = (va + vb) ** 2 / (va ** 2 / (candidate.n - 1) + vb ** 2 / (baseline.n - 1));
    const t = diff / se;
    return { p: studentTUpper(t, df), df, t, method: "welch" };
  }
  const se = candidate.sd / Math.sqrt(candidate.n);
  if (se === 0) return undefined;
  const df = candidate.n - 1;
  const t = diff / se;
  return { p: studentTUpper(t, df), df, t, method: "one-sample" };
}
