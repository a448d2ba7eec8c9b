// Labels of a run (key: value), from three places, later ones winning: `labels:` in track-run.yml,
// `::track-run label key=value` lines the command prints, and --label key=value. Keys are
// identifiers, values short strings; the run's secret masker applies to both when recorded.
import { quoteInput } from "../util/names.js";

export const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const LABEL_VALUE_MAX = 256;

/** A label `key=value`, or why it is not one (to follow the input as the user wrote it). */
export function parseLabel(text: string): { key: string; value: string } | string {
  const eq = text.indexOf("=");
  if (eq <= 0) return "must be key=value";
  const key = text.slice(0, eq).trim();
  const value = text.slice(eq + 1).trim();
  if (!LABEL_KEY.test(key))
    return `has the key ${quoteInput(key)}; a label key is letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters`;
  if (value.length > LABEL_VALUE_MAX)
    return `has a value of ${value.length} characters; at most ${LABEL_VALUE_MAX}`;
  return { key, value };
}

/**
 * One `::track-run label key=value` line of the command: the label, a problem (a malformed label
 * line), or undefined when the line is something else. The value is the rest of the line.
 */
export function parseLabelLine(
  line: string,
): { key: string; value: string } | { problem: string } | undefined {
  const m = /^::track-run label (.*)$/.exec(line.trim());
  if (!m) return undefined;
  const parsed = parseLabel(m[1]!);
  return typeof parsed === "string"
    ? { problem: `the label line ${quoteInput(line.trim())} ${parsed}` }
    : parsed;
}

/** The run's labels: each source in order, later ones winning; undefined when there are none. */
export function mergeLabels(
  ...sources: Array<Record<string, string> | undefined>
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const s of sources) if (s) Object.assign(out, s);
  return Object.keys(out).length ? out : undefined;
}
