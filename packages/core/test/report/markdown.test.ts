// The comment's text: the metrics table, what changed, and each chart's source as GitHub's Mermaid reads it.
import { describe, expect, it } from "vitest";
import type { GateVerdict, MetricSummary } from "../../src/policy/index.js";
import {
  CHART_COLORS,
  formatDelta,
  formatNumber,
  historyChart,
  MAX_CHART_PROMOTIONS,
  renderReport,
  shortLabel,
} from "../../src/report/index.js";
import { exampleReport, longHistoryReport, seedMatrixReport } from "./fixtures.js";

const mermaidBlocks = (md: string) => [...md.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe("the charts", () => {
  it("set their own palette, readable on white and on GitHub's dark background", () => {
    const [chart] = mermaidBlocks(renderReport(seedMatrixReport()));
    expect(chart).toMatch(/^---\nconfig:\n/);
    expect(chart).toContain(
      `plotColorPalette: "${CHART_COLORS.candidate},${CHART_COLORS.candidate},${CHART_COLORS.candidate},${CHART_COLORS.production}"`,
    );
    expect(chart).toContain('backgroundColor: "transparent"');
  });

  it("label promotions #N and the candidate as such, nothing longer", () => {
    const [chart] = mermaidBlocks(renderReport(seedMatrixReport()));
    expect(chart).toContain('x-axis "promotion" ["#1", "#2", "#3", "#4", "#5", "candidate"]');
    expect(chart).not.toMatch(/20261\d{3}-/);
    expect(shortLabel({ label: "#12 20261130-085235", value: 1 })).toBe("#12");
    expect(shortLabel({ label: "x", value: 1, seq: 3 })).toBe("#3");
    expect(shortLabel({ label: "a-very-long-label", value: 1 })).toBe("a-very-lo…");
  });

  it("draw the candidate as its own lines: its mean, and mean ± sd for a seed matrix", () => {
    const input = seedMatrixReport();
    const accuracy = input.verdict.metrics.find((m) => m.name === "test/accuracy")!;
    const [chart] = mermaidBlocks(renderReport(input));
    const lines = chart!.split("\n").filter((l) => l.trimStart().startsWith("line "));
    expect(lines).toHaveLength(4);
    const last = (l: string) => Number(l.replace(/.*, ([-\d.e]+)\]$/, "$1"));
    const { mean, sd } = accuracy.candidate;
    expect(last(lines[0]!)).toBeCloseTo(mean - sd, 5);
    expect(last(lines[1]!)).toBeCloseTo(mean + sd, 5);
    expect(last(lines[2]!)).toBeCloseTo(mean, 5);
    // Production's line stays at production's value: the candidate is not part of its history.
    expect(last(lines[3]!)).toBe(0.9785);
    expect(renderReport(input)).toContain("the middle line its mean of 3 runs, the outer two ± 1 sd");
  });

  it("draw a single-run candidate as one line of its own", () => {
    const [chart] = mermaidBlocks(renderReport(longHistoryReport()));
    expect(chart!.split("\n").filter((l) => l.trimStart().startsWith("line "))).toHaveLength(2);
    expect(chart).toContain(`plotColorPalette: "${CHART_COLORS.candidate},${CHART_COLORS.production}"`);
  });

  it("keep the latest promotions when the history is long", () => {
    const md = renderReport(longHistoryReport());
    const [chart] = mermaidBlocks(md);
    const labels = /x-axis "promotion" \[(.*)\]/.exec(chart!)![1]!.split(", ");
    expect(labels).toHaveLength(MAX_CHART_PROMOTIONS + 1);
    expect(labels[0]).toBe('"#3"');
    expect(md).toContain("production at the latest 10 of 12 promotions (blue)");
  });

  it("are left out, with one line saying so, when production is the first promotion", () => {
    const md = renderReport(exampleReport());
    expect(mermaidBlocks(md)).toEqual([]);
    expect(md).toContain(
      "_No chart yet: production is this model's first promotion. Charts of each gated metric start at its second promotion._",
    );
  });

  it("are left out for a first model", () => {
    const { verdict } = exampleReport();
    const first: GateVerdict = { ...verdict, firstModel: true, baselineRuns: [] };
    const md = renderReport({
      verdict: first,
      history: { "test/accuracy": [{ label: "candidate", value: 0.97 }] },
    });
    expect(mermaidBlocks(md)).toEqual([]);
    expect(md).toContain("_No chart yet: nothing of this model has been promoted.");
    expect(historyChart("x", [{ label: "candidate", value: 1 }])).toBeUndefined();
  });
});

describe("the metrics table", () => {
  const row = (md: string, metric: string) => md.split("\n").find((l) => l.startsWith(`| ${metric} (`))!;

  it("has a header over every column", () => {
    const md = renderReport(exampleReport());
    const header = md.split("\n").find((l) => l.startsWith("| metric"))!;
    expect(header).toBe("| metric | production | candidate | Δ | Δ % | better or worse | verdict |");
    expect(
      header
        .split("|")
        .slice(1, -1)
        .filter((c) => c.trim() === ""),
    ).toEqual([]);
  });

  it("rounds deltas: no float noise", () => {
    const md = renderReport(exampleReport());
    expect(row(md, "test/accuracy")).toContain("| -0.002738 |");
    expect(md).not.toMatch(/\d{9,}/);
    expect(formatNumber(0.002738000000000018)).toBe("0.002738");
    expect(formatDelta(0.002738000000000018)).toBe("+0.002738");
    expect(formatNumber(1.5e-7)).toBe("1.5e-7");
    expect(formatNumber(undefined)).toBe("–");
  });

  it("says 'not significant' when the seed matrix's test says nothing, better or worse only when it does", () => {
    const input = seedMatrixReport();
    const md = renderReport(input);
    expect(row(md, "test/accuracy")).toMatch(/\| not significant \(p=0\.\d+ ≥ 0\.05\) \|/);
    expect(md).not.toContain("▼ worse (p=");
    const withP = (m: MetricSummary, p: number, better: boolean): MetricSummary => ({
      ...m,
      better,
      test: { ...m.test!, p },
    });
    const metrics = input.verdict.metrics;
    const judged = renderReport({
      verdict: {
        ...input.verdict,
        metrics: [
          withP(metrics[0]!, 0.01, true),
          withP(metrics[1]!, 0.99, false),
          withP(metrics[2]!, 0.92, false),
        ],
      },
    });
    expect(row(judged, "test/accuracy")).toContain("| ▲ better (p=0.01) |");
    expect(row(judged, "test/f1")).toContain("| ▼ worse (p=0.01) |");
    expect(row(judged, "test/loss")).toContain("| not significant (p=0.08 ≥ 0.05) |");
  });

  it("calls a single run's change what it is: one run, untested", () => {
    expect(row(renderReport(exampleReport()), "test/loss")).toContain("| ▼ worse (single run) |");
  });
});

describe("what changed", () => {
  it("shows a seed matrix as a seed matrix, not as a changed parameter", () => {
    const md = renderReport(seedMatrixReport());
    expect(md).not.toContain("param (seed)");
    expect(md).toContain(
      "- **seed**: a seed matrix of 3 runs (seeds 1, 2, 3); production ran with seed `10`; the other pins are compared with its first run",
    );
  });

  it("names a single run's seed change plainly", () => {
    const input = exampleReport();
    const diff = { ...input.diff!, params: [...input.diff!.params, { key: "(seed)", from: 7, to: 8 }] };
    expect(renderReport({ ...input, diff })).toContain("- **seed**: `7` → `8`");
  });

  it("counts files in English", () => {
    const md = renderReport(exampleReport());
    expect(md).toContain("(1 file: `examples/spam-filter/params.json`)");
    const input = exampleReport();
    const two = { ...input.diff!, code: { ...input.diff!.code, files: ["a.py", "b.py"] } };
    expect(renderReport({ ...input, diff: two })).toContain("(2 files: `a.py`, `b.py`)");
  });
});
