import { isTrackRunError, systemErrorAsUsage } from "@track-run/core/errors";

/** How a command talks to the person (or program) that ran it. */
export interface Output {
  json: boolean;
  /** The result, on stdout: JSON with --json, else the text. */
  result(value: unknown, text: () => string): void;
  /** Human progress and notes, on stderr, never mixed into --json stdout. */
  info(line: string): void;
  warn(line: string): void;
}

const escapeChar = (c: string) =>
  `\\${c.charCodeAt(0) > 0xff ? "u" : "x"}${c
    .charCodeAt(0)
    .toString(16)
    .padStart(c.charCodeAt(0) > 0xff ? 4 : 2, "0")}`;

/**
 * Text for a terminal: control characters (a carriage return, an escape sequence, a bell) and
 * bidirectional overrides from a record, a file name or a message are shown escaped (`\x1b`,
 * `\u202e`), so nothing read from a ledger can move the cursor, rewrite a line, retitle the window
 * or reverse what follows. Newlines and tabs of the text itself stay.
 */
export function terminalSafe(text: string): string {
  return text.replace(
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    escapeChar,
  );
}

/**
 * A value read from a record, for display: every string in it (keys too) with newlines, tabs and
 * every other control or direction character escaped, so one field can never make a line of its own.
 */
export function displaySafe<T>(value: T): T {
  const one = (s: string) =>
    s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, escapeChar);
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return one(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [one(k), walk(x)]));
    return v;
  };
  return walk(value) as T;
}

export function makeOutput(json: boolean, stdout = process.stdout, stderr = process.stderr): Output {
  return {
    json,
    result(value, text) {
      if (json) stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      else {
        const t = terminalSafe(text());
        if (t) stdout.write(t.endsWith("\n") ? t : `${t}\n`);
      }
    },
    info(line) {
      stderr.write(`${terminalSafe(line)}\n`);
    },
    warn(line) {
      // One line whatever it quotes (a folder's name, a record's field): newlines shown escaped too.
      stderr.write(`warning: ${displaySafe(line)}\n`);
    },
  };
}

/** Prints an error the way DESIGN.md asks: one line naming it, details under it; returns the exit code. */
export function reportError(thrown: unknown, json: boolean): number {
  // A file-system error no caller mapped still names its path, with exit 2, never a stack trace.
  const e = systemErrorAsUsage(thrown) ?? thrown;
  if (isTrackRunError(e)) {
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ ok: false, error: { code: e.code, message: e.message, details: e.details } }, null, 2)}\n`,
      );
    }
    process.stderr.write(`track-run: ${terminalSafe(e.message)}\n`);
    for (const d of e.details) process.stderr.write(`  ${terminalSafe(d)}\n`);
    return e.exitCode;
  }
  process.stderr.write(
    `track-run: internal error (a bug; please report it):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  return 70;
}
