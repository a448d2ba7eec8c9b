import { describe, expect, it } from "vitest";
import {
  COMMENT_LIMIT,
  describeDataChange,
  describeSample,
  diffRuns,
  evaluateGate,
  improvementTest,
  marker,
  type Policy,
  type RunManifest,
  renderReport,
  studentTUpper,
} from "../../src/index.js";
import { sampleManifest } from "../sign/fixtures.js";

function run(id: string, metrics: Record<string, number>, over: Partial<RunManifest> = {}): RunManifest {
  const m = sampleManifest([{ path: "model.bin", sha256: "1".repeat(64), size: 1 }]);
  return {
    ...m,
    runId: id,
    metrics: {
      final: Object.entries(metrics).map(([name, value]) => ({ name, value, stage: "test" as const })),
    },
    ...over,
  };
}
const ok = { signed: true, dataValid: true, reproductions: 1 };
const policy: Policy = {
  model: "spam-classifier",
  metrics: {
    accuracy: { direction: "higher", min: 0.8, max_regression: 0.01, min_improvement: 0 },
    loss: { direction: "lower", max_regression: "5%" },
  },
  provenance: { signed: true, image_pinned: true, clean_tree: true, data_valid: true, reproduced: 1 },
  significance: 0.05,
};

describe("statistics", () => {
  it("matches Student's t table values", () => {
    expect(studentTUpper(2.015, 5)).toBeCloseTo(0.05, 3);
    expect(studentTUpper(2.776, 4)).toBeCloseTo(0.025, 3);
    expect(studentTUpper(0, 7)).toBeCloseTo(0.5, 10);
  });
  it("tests improvement one-sided, Welch for two sets, one-sample against one run, none without spread", () => {
    const t = improvementTest(describeSample([0.91, 0.92, 0.93]), describeSample([0.9]), "higher")!;
    expect(t.method).toBe("one-sample");
    expect(t.p).toBeLessThan(0.05);
    expect(
      improvementTest(describeSample([0.91, 0.92, 0.93]), describeSample([0.89, 0.9, 0.91]), "higher")!
        .method,
    ).toBe("welch");
    expect(improvementTest(describeSample([0.9]), describeSample([0.9]), "higher")).toBeUndefined();
    expect(improvementTest(describeSample([0.5, 0.4]), describeSample([0.6]), "lower")!.p).toBeLessThan(0.5);
  });
});

describe("the gate", () => {
  it("passes a candidate that keeps accuracy within the regression allowance and loss within 5%", () => {
    const v = evaluateGate(
      policy,
      [{ manifest: run("c", { accuracy: 0.905, loss: 0.31 }), provenance: ok }],
      [run("p", { accuracy: 0.91, loss: 0.3 })],
    );
    expect(v.rules.filter((r) => !r.pass)).toEqual([]);
    expect(v.pass).toBe(true);
    expect(v.metrics.find((m) => m.name === "accuracy")).toMatchObject({
      better: false,
      candidate: { n: 1 },
      baseline: { mean: 0.91 },
    });
  });

  it("fails, naming the rule, on a regression beyond the allowance", () => {
    const v = evaluateGate(
      policy,
      [{ manifest: run("c", { accuracy: 0.89, loss: 0.33 }), provenance: ok }],
      [run("p", { accuracy: 0.91, loss: 0.3 })],
    );
    expect(v.pass).toBe(false);
    const failed = v.rules.filter((r) => !r.pass);
    expect(failed.map((r) => `${r.rule} ${r.metric}`)).toEqual([
      "max_regression accuracy",
      "max_regression loss",
    ]);
    expect(failed[0]!.reason).toBe("worse by 0.02 than production (0.91), more than the allowed 0.01");
    expect(failed[1]!.threshold).toBe("regression <= 5% (0.015)");
  });

  it("judges a first model on absolute bounds and provenance alone", () => {
    const low = evaluateGate(
      policy,
      [{ manifest: run("c", { accuracy: 0.7, loss: 1 }), provenance: ok }],
      [],
    );
    expect(low.firstModel).toBe(true);
    expect(low.rules.filter((r) => !r.pass).map((r) => r.reason)).toEqual(["0.7 is below the minimum 0.8"]);
  });

  it("asks a set of runs for a significant improvement when min_improvement is positive", () => {
    const p: Policy = {
      model: "spam-classifier",
      metrics: { accuracy: { direction: "higher", min_improvement: 0.005 } },
      significance: 0.05,
    };
    const base = [run("p", { accuracy: 0.9 })];
    const noisy = evaluateGate(
      p,
      [0.95, 0.86, 0.93].map((a, i) => ({ manifest: run(`c${i}`, { accuracy: a }), provenance: ok })),
      base,
    );
    expect(noisy.rules[0]!.reason).toMatch(/is not significant \(p = 0\.\d+ >= 0\.05\)/);
    const steady = evaluateGate(
      p,
      [0.921, 0.92, 0.919].map((a, i) => ({ manifest: run(`c${i}`, { accuracy: a }), provenance: ok })),
      base,
    );
    expect(steady.pass).toBe(true);
    expect(steady.metrics[0]!.significant).toBe(true);
  });

  it("checks provenance: signed, image pinned, clean tree, data valid, reproduced", () => {
    const dirty = run(
      "c",
      { accuracy: 0.95, loss: 0.2 },
      {
        code: {
          kind: "git",
          commit: "a".repeat(40),
          dirty: { modified: ["x"], added: [], deleted: [], untracked: [] },
        },
      },
    );
    const v = evaluateGate(
      policy,
      [{ manifest: dirty, provenance: { signed: false, dataValid: false, reproductions: 0 } }],
      [],
    );
    expect(v.rules.filter((r) => !r.pass).map((r) => r.rule)).toEqual([
      "signed",
      "clean_tree",
      "data_valid",
      "reproduced",
    ]);
    expect(v.rules.find((r) => r.rule === "reproduced")!.reason).toBe(
      "c: reproduced 0 time(s), the policy asks 1",
    );
  });

  it("writes numbers in its reasons as people read them", () => {
    const v = evaluateGate(
      { model: "spam-classifier", metrics: { latency: { direction: "lower", max: 1000 } } },
      [{ manifest: run("c", { latency: 1500.2 }), provenance: ok }],
      [],
    );
    expect(v.rules[0]!.reason).toBe("1500 is above the maximum 1000");
  });

  it("names the changed files of a bag that no longer validates, when the caller gives them", () => {
    const changed = evaluateGate(
      { model: "spam-classifier", provenance: { data_valid: true } },
      [
        {
          manifest: run("c", { accuracy: 0.95 }),
          provenance: {
            signed: true,
            dataValid: false,
            reproductions: 0,
            dataChanges: [
              { name: "train", changed: ["data/points.csv"], added: ["data/new.csv"] },
              { name: "test", reason: "data/test does not exist" },
            ],
          },
        },
      ],
      [],
    );
    expect(changed.rules.find((r) => r.rule === "data_valid")!.reason).toBe(
      "c: a bag no longer validates (bag train: changed data/points.csv; added data/new.csv; bag test: data/test does not exist)",
    );
    const many = Array.from({ length: 7 }, (_, i) => `data/f${i}.csv`);
    expect(describeDataChange({ name: "train", changed: many })).toBe(
      "bag train: changed data/f0.csv, data/f1.csv, data/f2.csv, data/f3.csv, data/f4.csv and 2 more",
    );
  });

  it("refuses a failed run and another model's run", () => {
    const failed = run(
      "c",
      { accuracy: 0.95, loss: 0.2 },
      { status: { state: "failed", reason: "the command exited with code 1" }, model: "other" },
    );
    const v = evaluateGate({ model: "spam-classifier" }, [{ manifest: failed, provenance: ok }], []);
    expect(v.rules.map((r) => r.reason)).toEqual([
      "derived from no invalidated input",
      "c failed: the command exited with code 1",
      "c trains other, the policy is for spam-classifier",
    ]);
  });

  it("refuses a candidate derived from an invalidated input by default, naming the input and the record", () => {
    const why = "data raw sha256:ab (invalidations/x.sigstore.json: labels were shuffled)";
    const v = evaluateGate(
      { model: "spam-classifier" },
      [{ manifest: run("c", { accuracy: 0.9 }), provenance: { ...ok, invalidatedBy: [why] } }],
      [],
    );
    expect(v.pass).toBe(false);
    expect(v.rules).toContainEqual({
      rule: "not_invalidated",
      pass: false,
      reason: `c: derived from an invalidated input: ${why}`,
    });
    const off = evaluateGate(
      { model: "spam-classifier", provenance: { not_invalidated: false } },
      [{ manifest: run("c", { accuracy: 0.9 }), provenance: { ...ok, invalidatedBy: [why] } }],
      [],
    );
    expect(off.pass).toBe(true);
    expect(off.rules.find((r) => r.rule === "not_invalidated")?.reason).toContain("not refused");
    const report = renderReport({ verdict: v });
    expect(report).toContain("not_invalidated");
    expect(report).toContain("labels were shuffled");
  });
});

describe("the report", () => {
  const v = evaluateGate(
    policy,
    [{ manifest: run("c", { accuracy: 0.93, loss: 0.28 }), provenance: ok }],
    [run("p", { accuracy: 0.91, loss: 0.3 })],
  );
  it("carries the model's marker, a metrics table, the provenance checklist and a chart", () => {
    const md = renderReport({
      verdict: v,
      history: {
        accuracy: [
          { label: "#1 r1", value: 0.88 },
          { label: "#2 r2", value: 0.91 },
          { label: "candidate", value: 0.93 },
        ],
      },
    });
    expect(md.startsWith(marker("spam-classifier"))).toBe(true);
    expect(md).toContain(
      "| accuracy (higher) | 0.91 | 0.93 | +0.02 | +2.2% | ▲ better (single run) | ✅ pass |",
    );
    expect(md).toContain("- ✅ **signed**: signed by a trusted key or identity");
    expect(md).toContain(
      'xychart-beta\n  title "accuracy (higher is better)"\n  x-axis "promotion" ["#1", "#2", "candidate"]',
    );
    expect(md).toContain("  line [0.88, 0.91, 0.93]\n  line [0.88, 0.91, 0.91]");
  });
  it("stays under GitHub's comment limit, pointing to the step summary", () => {
    const huge = {
      ...v,
      rules: Array.from({ length: 3000 }, (_, i) => ({
        rule: "x",
        pass: false,
        reason: `${"long reason ".repeat(3)}${i}`,
      })),
    };
    const md = renderReport({ verdict: huge, detailsUrl: "https://github.com/acme/models/actions/runs/1" });
    expect(md.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(md).toMatch(
      /truncated to fit GitHub's 65536-character limit; the full report is in the step summary: https:\/\/github\.com\/acme\/models\/actions\/runs\/1\.$/,
    );
  });
});

describe("run diff", () => {
  it("names code, data files, image, params and metric deltas", () => {
    const a = run("a", { accuracy: 0.9 });
    const b = run(
      "b",
      { accuracy: 0.93 },
      {
        code: { kind: "git", commit: "b".repeat(40) },
        data: [{ ...a.data[0]!, digest: `sha256:${"f".repeat(64)}` }],
        invocation: { ...a.invocation, params: { lr: 0.2 } },
      },
    );
    const d = diffRuns(a, b, {
      dataManifest: (id) =>
        id === "a"
          ? `${"1".repeat(64)}  data/x.csv\n${"2".repeat(64)}  data/y.csv\n`
          : `${"1".repeat(64)}  data/x.csv\n${"3".repeat(64)}  data/y.csv\n${"4".repeat(64)}  data/z.csv\n`,
      changedFiles: () => ["train.py"],
    });
    expect(d.code).toEqual({ from: "a".repeat(40), to: "b".repeat(40), changed: true, files: ["train.py"] });
    expect(d.data[0]).toMatchObject({
      name: "train",
      change: "changed",
      files: { added: ["data/z.csv"], removed: [], changed: ["data/y.csv"] },
    });
    expect(d.params).toEqual([{ key: "lr", from: 0.1, to: 0.2 }]);
    expect(d.metrics).toEqual([
      { name: "test/accuracy", from: 0.9, to: 0.93, delta: expect.closeTo(0.03, 10) },
    ]);
  });
});
