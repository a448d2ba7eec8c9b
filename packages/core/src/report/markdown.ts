// The compare report: what a pull request comment and a step summary show. Markdown with a
// hidden marker per model (for the sticky comment), a metrics table, the provenance checklist,
// what changed, and a Mermaid chart per gated metric (GitHub renders it; nothing is uploaded).

import type { RunDiff } from "../ledger/diff.js";
import type { GateVerdict, RuleResult } from "../policy/gate.js";

/** GitHub's limit on a comment body. */
export const COMMENT_LIMIT = 65_536;

export const marker = (model: string) => `<!-- track-run:compare model=${model} -->`;

const num = (x: number | undefined, digits = 4) =>
  x === undefined
    ? "–"
    : Number.isInteger(x)
      ? String(x)
      : x
          .toPrecision(digits)
          .replace(/(\.\d*?)0+$/, "$1")
          .replace(/\.$/, "");
const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/</g, "&lt;");

export interface HistoryPoint {
  label: string;
  value: number;
}

export interface ReportInput {
  verdict: GateVerdict;
  /** What changed from the production run to the (first) candidate. */
  diff?: RunDiff;
  /** Per gated metric: its value at each promotion, oldest first. */
  history?: Record<string, HistoryPoint[]>;
  /** Where the full report is (the step summary), for a truncated comment. */
  detailsUrl?: string;
  /** Largest length in characters (default: GitHub's comment limit). */
  limit?: number;
}

/** A change with its sign: +0.02, -0.03, 0. */
const signed = (x: number | undefined, digits?: number) =>
  x !== undefined && x > 0 ? `+${num(x, digits)}` : num(x, digits);

function metricRows(v: GateVerdict): string[] {
  const rows = [
    "| metric | production | candidate | Δ | Δ % | | verdict |",
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
    const arrow = m.better === undefined ? "" : m.delta === 0 ? "=" : m.better ? "▲ better" : "▼ worse";
    const sig = m.test
      ? ` (p=${num(m.test.p, 2)})`
      : m.candidate.n === 1 && m.baseline
        ? " (single run)"
        : "";
    rows.push(
      `| ${esc(m.name)} (${m.direction}) | ${base} | ${cand} | ${signed(m.delta)} | ${m.deltaPercent === undefined ? "–" : `${signed(m.deltaPercent, 3)}%`} | ${arrow}${sig} | ${ok ? "✅ pass" : "❌ fail"} |`,
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

function chart(name: string, points: HistoryPoint[]): string[] {
  const values = points.map((p) => p.value);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.1;
  return [
    "```mermaid",
    "xychart-beta",
    `  title "${name.replace(/"/g, "'")}: promoted history and this candidate"`,
    `  x-axis [${points.map((p) => `"${p.label.replace(/"/g, "'")}"`).join(", ")}]`,
    `  y-axis "${name.replace(/"/g, "'")}" ${num(lo - pad)} --> ${num(hi + pad)}`,
    `  line [${values.map((v) => num(v, 6)).join(", ")}]`,
    "```",
  ];
}

function changedLines(d: RunDiff): string[] {
  const out: string[] = [];
  if (d.code.changed)
    out.push(
      `- **code**: \`${d.code.from?.slice(0, 12)}\` → \`${d.code.to?.slice(0, 12)}\`${
        d.code.files?.length
          ? ` (${d.code.files.length} files: ${d.code.files
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
  for (const p of d.params)
    out.push(
      `- **param ${esc(p.key)}**: \`${esc(JSON.stringify(p.from))}\` → \`${esc(JSON.stringify(p.to))}\``,
    );
  for (const e of d.environment) out.push(`- **${e.fact}**: ${esc(e.from)} → ${esc(e.to)}`);
  return out.length ? out : ["- nothing pinned changed but the run itself"];
}

export function renderReport(input: ReportInput): string {
  const v = input.verdict;
  const head = v.pass
    ? `✅ **${esc(v.model)}**: the candidate passes the gate`
    : `❌ **${esc(v.model)}**: the candidate does not pass the gate`;
  const lines = [marker(v.model), `### ${head}`, ""];
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
  if (input.diff) lines.push("**What changed since production**", "", ...changedLines(input.diff), "");
  // A chart per gated metric with a history, failing metrics first, at most MAX_CHARTS of them.
  const charted = Object.entries(input.history ?? {})
    .filter(([, points]) => points.length >= 2)
    .sort(([a], [b]) => Number(failing(v, b)) - Number(failing(v, a)));
  for (const [name, points] of charted.slice(0, MAX_CHARTS)) lines.push(...chart(name, points), "");
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
