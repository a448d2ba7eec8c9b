// What the bad-input and fuzz tests share: the built CLI run with a time limit, a project with one
// signed run (host runtime: no engine needed), and the check that an answer is a clean refusal.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ledgerProject } from "./ledger-project.js";

export const bin = new URL("../bin/track-run.js", import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The built CLI, killed after `timeoutMs` (a hang shows as signal SIGKILL, code null). */
export function cli(
  args: readonly string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: o.cwd,
    env: { ...process.env, CI: "true", ...o.env },
    encoding: "utf8",
    timeout: o.timeoutMs ?? 15_000,
    killSignal: "SIGKILL",
    input: o.input ?? "",
    maxBuffer: 16 * 1024 * 1024,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Node's own trace lines, or our internal-error report: what a user must never see. */
export function crashSigns(text: string): string | undefined {
  const m =
    /^ {4}at .+$/m.exec(text) ??
    /internal error \(a bug/.exec(text) ??
    /node:internal|triggerUncaughtException|Node\.js v\d+/.exec(text) ??
    /^\w*Error: .*\n\s+at /m.exec(text);
  return m?.[0];
}

export interface SignedRun {
  /** The project (a git repository) with a dir: ledger holding one signed run. */
  dir: string;
  runId: string;
  bundle: string;
  manifest: string;
  /** A valid bag folder of the project's data. */
  bag: string;
}

/** One host run of model spam, signed with the project's local key, and a bag of its data. */
export function signedRun(): SignedRun {
  const p = ledgerProject({ promote: false });
  const runId = p.train(0.9);
  const record = join(p.dir, ".track-run/ledger/runs", runId);
  const bag = join(p.dir, "bag");
  const made = cli(["bag", "create", join(p.dir, "data"), "--out", bag], { cwd: p.dir });
  if (made.code !== 0) throw new Error(made.stderr);
  return {
    dir: p.dir,
    runId,
    bundle: join(record, "bundle.sigstore.json"),
    manifest: join(record, "manifest.json"),
    bag,
  };
}

/** The names in a folder (sorted), to show nothing was written there. */
export function listing(dir: string): string[] {
  return readdirSync(dir).sort();
}
