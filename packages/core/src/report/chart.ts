// The comment's chart of one gated metric: production's value at each promotion (one line) and the
// candidate beside it (a second line, with its spread for a seed matrix). Drawn by the reader's
// browser (Mermaid's xychart), in GitHub's light or dark theme, so the colours are set here: every
// line keeps at least 3:1 contrast against a white, a #0d1117 and a #333 background.

import type { MetricSummary } from "../policy/gate.js";
import { formatNumber } from "./number.js";

export interface HistoryPoint {
  /** What the point is called; `#N …` for the N-th promotion, "candidate" for the candidate. */
  label: string;
  value: number;
  /** The promotion's sequence number, when the point is a promotion (else read from `#N` in the label). */
  seq?: number;
  /** True for the candidate's point (also recognised by the label "candidate"). */
  candidate?: boolean;
}

/** Line colours: production (blue) and the candidate (orange), a pair that colour-blind readers tell apart. */
export const CHART_COLORS = { production: "#3b82f6", candidate: "#e8590c" } as const;

/** Promotions drawn at most: the latest ones, so the x labels keep room to stand apart. */
export const MAX_CHART_PROMOTIONS = 10;

const CANDIDATE_LABEL = "candidate";

const isCandidate = (p: HistoryPoint) => p.candidate === true || p.label === CANDIDATE_LABEL;

/** A short x label: `#N` for a promotion, the first word (10 characters at most) otherwise. */
export function shortLabel(p: HistoryPoint): string {
  if (p.seq !== undefined) return `#${p.seq}`;
  const seq = /^#(\d+)\b/.exec(p.label);
  if (seq) return `#${seq[1]}`;
  const word = p.label.trim().split(/\s+/)[0] ?? "";
  return word.length > 10 ? `${word.slice(0, 9)}…` : word;
}

const quote = (s: string) => `"${s.replace(/"/g, "'")}"`;

/**
 * The chart of `name`: undefined when fewer than two promotions are known (one point says nothing
 * the table does not). The candidate comes from the verdict's summary when given (mean, sd, n),
 * else from the history's candidate point.
 */
export function historyChart(
  name: string,
  history: readonly HistoryPoint[],
  summary?: MetricSummary,
): string[] | undefined {
  const promoted = history.filter((p) => !isCandidate(p));
  if (promoted.length < 2) return undefined;
  const shown = promoted.slice(-MAX_CHART_PROMOTIONS);
  const candidatePoint = history.find(isCandidate);
  const mean = summary?.candidate.mean ?? candidatePoint?.value;
  const sd = summary && summary.candidate.n > 1 ? summary.candidate.sd : 0;
  const n = summary?.candidate.n ?? 1;
  const values = shown.map((p) => p.value);
  const labels = shown.map(shortLabel);
  const last = values[values.length - 1]!;

  // Every series has a value at every x position (Mermaid draws no gaps). The candidate's lines
  // repeat the history, where production's line (drawn last, on top) covers them, and leave it at
  // the last position: a fan from production now to the candidate's mean and mean ± sd.
  const series: Array<{ values: number[]; color: string }> = [];
  if (mean !== undefined) {
    labels.push(CANDIDATE_LABEL);
    if (sd > 0) {
      series.push({ values: [...values, mean - sd], color: CHART_COLORS.candidate });
      series.push({ values: [...values, mean + sd], color: CHART_COLORS.candidate });
    }
    series.push({ values: [...values, mean], color: CHART_COLORS.candidate });
    // Production stays where it is unless the candidate is promoted.
    series.push({ values: [...values, last], color: CHART_COLORS.production });
  } else series.push({ values, color: CHART_COLORS.production });

  const all = series.flatMap((s) => s.values);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.1;
  const direction = summary ? ` (${summary.direction} is better)` : "";
  const cut =
    promoted.length > shown.length
      ? `the latest ${shown.length} of ${promoted.length} promotions`
      : "each promotion";
  const caption =
    mean === undefined
      ? `<sub>${name}: production at ${cut} (blue).</sub>`
      : `<sub>${name}: production at ${cut} (blue), then this candidate (orange)${
          sd > 0 ? `: the middle line its mean of ${n} runs, the outer two ± 1 sd` : ""
        }.</sub>`;
  return [
    "```mermaid",
    "---",
    "config:",
    "  xyChart:",
    "    height: 400",
    "  themeVariables:",
    "    xyChart:",
    // The page's own background shows through: white or GitHub's dark grey, never a box of another shade.
    '      backgroundColor: "transparent"',
    `      plotColorPalette: "${series.map((s) => s.color).join(",")}"`,
    "---",
    "xychart-beta",
    `  title ${quote(`${name}${direction}`)}`,
    `  x-axis "promotion" [${labels.map(quote).join(", ")}]`,
    `  y-axis ${formatNumber(lo - pad, 6)} --> ${formatNumber(hi + pad, 6)}`,
    ...series.map((s) => `  line [${s.values.map((v) => formatNumber(v, 6)).join(", ")}]`),
    "```",
    caption,
  ];
}
