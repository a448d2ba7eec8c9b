// How the CLI writes a recorded run as text: pure functions of a manifest (and its log), so `show`
// and friends print the same facts the same way.
import type { RunManifest } from "@track-run/core";
import { formatNumber } from "@track-run/core/report";

/** Lines of a failed or cancelled run's log that `show` prints: the end, which says why. */
export const LOG_TAIL_LINES = 20;

/** The last `count` lines of a log, trailing blank lines dropped. */
export function logTail(text: string, count = LOG_TAIL_LINES): string[] {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  while (lines.length && lines[lines.length - 1]!.trim() === "") lines.pop();
  return lines.slice(-count);
}

/** 42 s, 5 min 3 s, 2 h 4 min. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${formatNumber(seconds, 3)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** 512 B, 1.5 KiB, 2.25 GiB. */
export function byteSize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : formatNumber(v, 3)} ${units[i]}`;
}

/** A command line as a shell would take it back: arguments with spaces or quotes are quoted. */
const commandLine = (argv: readonly string[]) =>
  argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");

/** Parameters flattened to `a.b=value` pairs, in the order they were recorded. */
function flatParams(o: unknown, prefix = ""): string[] {
  if (o && typeof o === "object" && !Array.isArray(o)) {
    const entries = Object.entries(o as Record<string, unknown>);
    if (entries.length === 0 && prefix) return [`${prefix}={}`];
    return entries.flatMap(([k, v]) => flatParams(v, prefix ? `${prefix}.${k}` : k));
  }
  return [`${prefix}=${JSON.stringify(o)}`];
}

const pad = (label: string) => label.padEnd(8);

/**
 * What `show` prints of a run's manifest, after its status line: code, data, image, the invocation
 * (command, params, seed), outputs, metrics, timing and, for a run that did not succeed, the end
 * of its log (`log`, the stored log.txt, when the caller has it).
 */
export function runDetails(m: RunManifest, log?: string): string[] {
  const lines = [
    `${pad("code")} ${m.code.commit ?? `content ${m.code.contentDigest}`}${m.code.dirty ? " (dirty tree)" : ""}`,
    ...m.data.map((d) => `${pad("data")} ${d.name} ${d.digest}`),
    `${pad("image")} ${m.environment.image?.repoDigest ?? m.environment.image?.id ?? "host"}`,
    `${pad("command")} ${commandLine(m.invocation.command)}`,
  ];
  const params = flatParams(m.invocation.params ?? {});
  lines.push(`${pad("params")} ${params.length ? params.join(" ") : "none"}`);
  lines.push(`${pad("seed")} ${m.invocation.seed ?? "none"}`);
  if (m.outputs.length === 0) lines.push(`${pad("outputs")} none`);
  for (const o of m.outputs)
    lines.push(`${pad("output")} ${o.path}  sha256:${o.sha256}  ${byteSize(o.size)}`);
  for (const x of m.metrics.final)
    lines.push(`${pad("metric")} ${x.stage ? `${x.stage}/` : ""}${x.name} = ${x.value}`);
  const t = m.timing;
  const took = [
    t.wallSeconds !== undefined ? `${duration(t.wallSeconds)} wall` : undefined,
    t.cpuSeconds !== undefined ? `${duration(t.cpuSeconds)} CPU` : undefined,
    t.peakMemoryBytes !== undefined ? `peak memory ${byteSize(t.peakMemoryBytes)}` : undefined,
  ].filter((x): x is string => x !== undefined);
  lines.push(
    `${pad("timing")} ${t.startedAt} → ${t.finishedAt}${took.length ? ` (${took.join(", ")})` : ""}`,
  );
  if (m.status.state !== "succeeded") {
    if (m.status.exitCode !== undefined) lines.push(`${pad("exit")} ${m.status.exitCode}`);
    const tail = log === undefined ? [] : logTail(log);
    if (tail.length) {
      lines.push(`${pad("log")} the last ${tail.length} lines of log.txt:`);
      for (const l of tail) lines.push(`  | ${l}`);
    } else lines.push(`${pad("log")} ${log === undefined ? "not in the ledger" : "empty"}`);
  }
  return lines;
}
