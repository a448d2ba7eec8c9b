// The verdict of a reproduction from two manifests: pure, no engine.
import { describe, expect, it } from "vitest";
import type { MetricValue, Policy, RunManifest } from "../../src/__generated__/index.js";
import { compareMetrics, compareOutputs, verdictOf } from "../../src/reproduce/compare.js";

function run(final: MetricValue[], outputs: Record<string, string> = { "model.bin": "a".repeat(64) }) {
  return {
    metrics: { final },
    outputs: Object.entries(outputs).map(([path, sha256]) => ({ path, sha256, size: 1 })),
    status: { state: "succeeded" },
  } as unknown as RunManifest;
}

const judge = (a: RunManifest, b: RunManifest, policy?: Policy) => {
  const metrics = compareMetrics(a, b, policy);
  return { metrics, ...verdictOf(a, b, metrics, compareOutputs(a, b)) };
};

describe("reproduction verdict", () => {
  it("reads a tolerance keyed by stage, the form docs/policy.md uses", () => {
    const a = run([{ name: "accuracy", stage: "test", value: 0.9 }], { "model.bin": "a".repeat(64) });
    const b = run([{ name: "accuracy", stage: "test", value: 0.9005 }], { "model.bin": "b".repeat(64) });
    const policy: Policy = {
      model: "m",
      metrics: { "test/accuracy": { direction: "higher", tolerance: 0.001 } },
    };
    const r = judge(a, b, policy);
    expect(r.verdict).toBe("within-tolerance");
    expect(r.metrics).toEqual([
      expect.objectContaining({ name: "accuracy", stage: "test", tolerance: 0.001, rule: "test/accuracy" }),
    ]);
    // A percentage, keyed by stage, too.
    const pct = judge(a, b, {
      model: "m",
      metrics: { "test/accuracy": { direction: "higher", tolerance: "0.01%" } },
    });
    expect(pct.verdict).toBe("diverged");
    expect(pct.reasons[0]).toMatch(/^metric test\/accuracy: 0\.9 -> 0\.9005 \(delta .*, tolerance 0\.00009/);
    // The bare name still works.
    expect(
      judge(a, b, { model: "m", metrics: { accuracy: { direction: "higher", tolerance: 0.001 } } }).verdict,
    ).toBe("within-tolerance");
  });

  it("rests on the outputs and the gated metrics; a metric the policy does not gate is listed beside", () => {
    const a = run([
      { name: "accuracy", stage: "test", value: 0.9 },
      { name: "epoch_seconds", stage: "train", value: 12.1 },
    ]);
    const b = run([
      { name: "accuracy", stage: "test", value: 0.9 },
      { name: "epoch_seconds", stage: "train", value: 14.7 },
    ]);
    const policy: Policy = { model: "m", metrics: { "test/accuracy": { direction: "higher" } } };
    const r = judge(a, b, policy);
    expect(r.verdict).toBe("bitwise");
    expect(r.reasons).toEqual([]);
    expect(r.differences).toEqual([
      expect.stringMatching(
        /^metric train\/epoch_seconds: 12\.1 -> 14\.7 \(delta .*\); not gated by the policy, so it does not decide the verdict$/,
      ),
    ]);
    expect(r.metrics.map((m) => [m.name, m.gated])).toEqual([
      ["accuracy", true],
      ["epoch_seconds", false],
    ]);
    // Numbers as people read them: 14.7 - 12.1 is +2.6, not 2.5999999999999996.
    expect(r.differences[0]).toContain("(delta +2.6)");
    // A bare key gates the most final stage only, as the gate reads it.
    const bare = judge(
      run([
        { name: "accuracy", stage: "test", value: 0.9 },
        { name: "accuracy", stage: "train", value: 0.95 },
      ]),
      run([
        { name: "accuracy", stage: "test", value: 0.9 },
        { name: "accuracy", stage: "train", value: 0.96 },
      ]),
      { model: "m", metrics: { accuracy: { direction: "higher" } } },
    );
    expect(bare.verdict).toBe("bitwise");
    expect(bare.differences).toEqual([expect.stringMatching(/^metric train\/accuracy: /)]);
    // A gated metric that moved still decides; other outputs are listed beside a divergence.
    const moved = judge(
      a,
      run([{ name: "accuracy", stage: "test", value: 0.8 }], { "model.bin": "c".repeat(64) }),
      policy,
    );
    expect(moved.verdict).toBe("diverged");
    expect(moved.reasons).toEqual([
      expect.stringMatching(/^metric test\/accuracy: 0\.9 -> 0\.8 .*no tolerance in the policy\)$/),
    ]);
    expect(moved.differences).toEqual([
      expect.stringMatching(/^metric train\/epoch_seconds \(12\.1\) was not reported; not gated/),
      "output model.bin has other bytes",
    ]);
  });

  it("without a policy, every metric decides", () => {
    const a = run([{ name: "epoch_seconds", value: 12.1 }]);
    const b = run([{ name: "epoch_seconds", value: 14.7 }]);
    const r = judge(a, b);
    expect(r.verdict).toBe("diverged");
    expect(r.reasons).toEqual([expect.stringMatching(/no tolerance in the policy\)$/)]);
  });

  it("lists curves that differ (time per epoch) beside the verdict, with or without a policy", () => {
    const withCurves = (seconds: number[], loss: number[]) => {
      const m = run([{ name: "loss", stage: "test", value: 0.1 }]);
      m.metrics.curves = [
        ...loss.map((value, i) => ({ name: "loss", stage: "train" as const, step: i + 1, value })),
        ...seconds.map((value, i) => ({
          name: "epoch_seconds",
          stage: "train" as const,
          step: i + 1,
          value,
        })),
      ];
      return m;
    };
    const a = withCurves([1.5, 1.25, 1.5], [0.3, 0.2, 0.1]);
    const b = withCurves([1.5, 2, 1], [0.3, 0.2, 0.1]);
    const policy = { model: "m", metrics: { "test/loss": { direction: "lower" } } } as unknown as Policy;
    for (const r of [judge(a, b), judge(a, b, policy)]) {
      expect(r.verdict).toBe("bitwise");
      expect(r.reasons).toEqual([]);
      expect(r.differences).toEqual([
        "curve train/epoch_seconds differs at 2 of 3 steps (largest delta +0.75); curves do not decide the verdict",
      ]);
    }
    const fewer = withCurves([], [0.3, 0.2, 0.1]);
    expect(judge(a, fewer).differences).toEqual([
      "curve train/epoch_seconds (3 steps) was not reported; curves do not decide the verdict",
    ]);
    expect(judge(fewer, a).differences).toEqual([
      "curve train/epoch_seconds is new (3 steps); curves do not decide the verdict",
    ]);
  });
});
