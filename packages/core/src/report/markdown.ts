// The compare report: what a pull request comment and a step summary show. Markdown with a
// hidden marker per model (for the sticky comment), a metrics table, the provenance checklist,
// what changed, and a Mermaid chart per gated metric (GitHub renders it; nothing is uploaded).

import type { RunDiff } from "../ledger/diff.js";
import type { GateVerdict, MetricSummary, RuleResult } from "../policy/gate.js";
import { type HistoryPoint, historyChart } from "./chart.js";
import { formatDelta, formatNumber, plural } from "./number.js";

export type { HistoryPoint };

/** GitHub's limit on a comment body. */
export const COMMENT_LIMIT = 65_536;

export const marker = (model: string) => `<!-- track-run:compare model=${model} -->`;

const num = formatNumber;
/** Text from a record in markdown: no table break, no HTML, no line of its own, no direction override. */
export const markdownText = (s: string) =>
  s
    .replace(/\|/g, "\\|")
    .replace(/</g, "&lt;")
    .replace(
      /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
const esc = markdownText;

export interface ReportInput {
  verdict: GateVerdict;
  /** What changed from the production run to the (first) candidate. */
  diff?: RunDiff;
  /** Per gated metric: its value at each promotion, oldest first (a last point "candidate" is the candidate's mean). */
  history?: Record<string, HistoryPoint[]>;
  /** The seeds of the candidate's runs, in the order of `verdict.candidateRuns` (a seed matrix names them). */
  candidateSeeds?: ReadonlyArray<number | undefined>;
  /** Where the full report is (the step summary), for a truncated comment. */
  detailsUrl?: string;
  /** Largest length in characters (default: GitHub's comment limit). */
  limit?: number;
}

const signed = formatDelta;

/**
 * Whether the change is better or worse, as far as the evidence goes: a seed matrix says better or
 * worse only when its one-sided test is significant at the policy's level, else "not significant";
 * a single run is compared as it is and says so.
 */
function changeCell(m: MetricSummary, alpha: number): string {
  if (m.better === undefined) return "";
  if (m.delta === 0) return "= same";
  if (m.test) {
    // The test's p is for "better"; 1 - p is the one-sided p for "worse".
    const pBetter = m.test.p;
    const pWorse = 1 - m.test.p;
    if (pBetter < alpha) return `▲ better (p=${num(pBetter, 2)})`;
    if (pWorse < alpha) return `▼ worse (p=${num(pWorse, 2)})`;
    return `not significant (p=${num(Math.min(pBetter, pWorse), 2)} ≥ ${alpha})`;
  }
  const arrow = m.better ? "▲ better" : "▼ worse";
  return m.candidate.n === 1 && m.baseline ? `${arrow} (single run)` : `${arrow} (no spread to test)`;
}

function metricRows(v: GateVerdict): string[] {
  const alpha = v.significance ?? 0.05;
  const rows = [
    "| metric | production | candidate | Δ | Δ % | better or worse | verdict |",
    "| --- | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const m of v.metrics) {
    const rules = v.rules.filter((r) => r.metric === m.name);
    const ok = rules.every((r) => r.pass);
    const cand =
      m.candidate.n > 1
        ? `${num(m.candidate.mean)} ± ${num(m.candidate.sd, 2)} (n=${m.candidate.n})`
        : num(m.candidate.mean);
    const base = m.baseline
      ? m.baseline.n > 1
        ? `${num(m.baseline.mean)} ± ${num(m.baseline.sd, 2)} (n=${m.baseline.n})`
        : num(m.baseline.mean)
      : "–";
    rows.push(
      `| ${esc(m.name)} (${m.direction}) | ${base} | ${cand} | ${signed(m.delta)} | ${m.deltaPercent === undefined ? "–" : `${signed(m.deltaPercent, 3)}%`} | ${changeCell(m, alpha)} | ${ok ? "✅ pass" : "❌ fail"} |`,
    );
  }
  return rows;
}

function ruleLine(r: RuleResult): string {
  return `- ${r.pass ? "✅" : "❌"} **${r.rule}**${r.metric ? ` ${esc(r.metric)}` : ""}: ${esc(r.reason)}${r.threshold ? ` _(rule: ${esc(r.threshold)})_` : ""}`;
}

/** Charts in one report: each is drawn by the reader's browser, so a few tell more than hundreds. */
const MAX_CHARTS = 6;

const failing = (v: GateVerdict, metric: string) => v.rules.some((r) => r.metric === metric && !r.pass);

const code = (x: unknown) => `\`${esc(typeof x === "string" ? x : JSON.stringify(x))}\``;

function seedLine(
  v: GateVerdict,
  seed: RunDiff["params"][number] | undefined,
  seeds: ReportInput["candidateSeeds"],
): string | undefined {
  const runs = v.candidateRuns.length;
  if (runs <= 1)
    return seed ? `- **seed**: ${code(seed.from ?? "none")} → ${code(seed.to ?? "none")}` : undefined;
  // A seed matrix: its runs differ from each other in seed by design; say so rather than compare one of them.
  const known = (seeds ?? []).filter((s): s is number => s !== undefined);
  const production = seed ? seed.from : undefined;
  return `- **seed**: a seed matrix of ${runs} runs${known.length === runs ? ` (seeds ${known.join(", ")})` : ""}${
    production !== undefined ? `; production ran with seed ${code(production)}` : ""
  }; the other pins are compared with its first run`;
}

function changedLines(d: RunDiff, v: GateVerdict, seeds: ReportInput["candidateSeeds"]): string[] {
  const out: string[] = [];
  if (d.code.changed)
    out.push(
      `- **code**: \`${d.code.from?.slice(0, 12)}\` → \`${d.code.to?.slice(0, 12)}\`${
        d.code.files?.length
          ? ` (${plural(d.code.files.length, "file")}: ${d.code.files
              .slice(0, 10)
              .map((f) => `\`${esc(f)}\``)
              .join(", ")}${d.code.files.length > 10 ? ", …" : ""})`
          : ""
      }`,
    );
  for (const x of d.data.filter((x) => x.change !== "same")) {
    const f = x.files;
    out.push(
      `- **data ${esc(x.name)}** ${x.change}${
        f
          ? `: ${f.added.length} added, ${f.removed.length} removed, ${f.changed.length} changed${
              f.changed.length
                ? ` (${f.changed
                    .slice(0, 5)
                    .map((p) => `\`${esc(p)}\``)
                    .join(", ")}${f.changed.length > 5 ? ", …" : ""})`
                : ""
            }`
          : ""
      }`,
    );
  }
  if (d.image.changed) out.push(`- **image**: \`${d.image.from}\` → \`${d.image.to}\``);
  for (const p of d.params) {
    if (p.key === "(seed)") continue;
    if (p.key === "(command)") out.push(`- **command**: ${code(p.from ?? "none")} → ${code(p.to ?? "none")}`);
    else
      out.push(
        `- **param ${esc(p.key)}**: \`${esc(JSON.stringify(p.from))}\` → \`${esc(JSON.stringify(p.to))}\``,
      );
  }
  const seed = seedLine(
    v,
    d.params.find((p) => p.key === "(seed)"),
    seeds,
  );
  if (seed) out.push(seed);
  for (const e of d.environment) out.push(`- **${e.fact}**: ${esc(e.from)} → ${esc(e.to)}`);
  return out.length ? out : ["- nothing pinned changed but the run itself"];
}

export function renderReport(input: ReportInput): string {
  const v = input.verdict;
  const head = v.pass
    ? `✅ **${esc(v.model)}**: the candidate passes the gate`
    : `❌ **${esc(v.model)}**: the candidate does not pass the gate`;
  const lines = [marker(v.model), `### ${head}`, ""];
  for (const w of v.warnings ?? []) lines.push(`> ⚠️ ${esc(w)}`, "");
  lines.push(
    v.firstModel
      ? "_No model in production yet: judged on absolute bounds and provenance alone._"
      : `Candidate ${v.candidateRuns.map((r) => `\`${r}\``).join(", ")} against production ${v.baselineRuns.map((r) => `\`${r}\``).join(", ")}.`,
    "",
  );
  if (v.metrics.length) lines.push(...metricRows(v), "");
  const failed = v.rules.filter((r) => !r.pass);
  if (failed.length) lines.push("**Why it fails**", "", ...failed.map(ruleLine), "");
  const prov = v.rules.filter((r) => !r.metric);
  if (prov.length) lines.push("**Provenance**", "", ...prov.map(ruleLine), "");
  if (input.diff)
    lines.push(
      "**What changed since production**",
      "",
      ...changedLines(input.diff, v, input.candidateSeeds),
      "",
    );
  // A chart per gated metric with a history of at least two promotions, failing metrics first, at
  // most MAX_CHARTS of them; with less history, one line says when charts start.
  const charted = Object.entries(input.history ?? {})
    .map(([name, points]) => ({
      name,
      chart: historyChart(
        name,
        points,
        v.metrics.find((m) => m.name === name),
      ),
    }))
    .filter((c): c is { name: string; chart: string[] } => c.chart !== undefined)
    .sort((a, b) => Number(failing(v, b.name)) - Number(failing(v, a.name)));
  for (const c of charted.slice(0, MAX_CHARTS)) lines.push(...c.chart, "");
  if (charted.length === 0 && input.history && Object.keys(input.history).length)
    lines.push(
      v.firstModel
        ? "_No chart yet: nothing of this model has been promoted. Charts of each gated metric start at its second promotion._"
        : "_No chart yet: production is this model's first promotion. Charts of each gated metric start at its second promotion._",
      "",
    );
  if (charted.length > MAX_CHARTS)
    lines.push(
      `_Charts of ${charted.length - MAX_CHARTS} more metrics are left out; \`track-run log\` lists every run's values._`,
      "",
    );
  const limit = input.limit ?? COMMENT_LIMIT;
  const full = lines.join("\n");
  if (full.length <= limit) return full;
  // Cut at a line, never inside a table row or a chart: an open code fence is dropped whole.
  const note = `\n\n… truncated to fit GitHub's ${limit}-character limit; the full report is in the step summary${input.detailsUrl ? `: ${input.detailsUrl}` : ""}.`;
  const kept: string[] = [];
  let size = 0;
  let fenceAt = -1;
  for (const line of lines) {
    if (size + line.length + 1 > limit - note.length) break;
    if (line.startsWith("```")) fenceAt = fenceAt < 0 ? kept.length : -1;
    kept.push(line);
    size += line.length + 1;
  }
  if (fenceAt >= 0) kept.length = fenceAt;
  return kept.join("\n").trimEnd() + note;
}
