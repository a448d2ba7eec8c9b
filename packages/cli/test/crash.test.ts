// A promotion killed at each of its write and rename steps (SIGKILL injected by strace at the exact
// system call, not a random sleep): afterwards the history verifies, production is either the old
// or the new run (never a broken chain or a second record of the same number), and the next
// promotion succeeds at once, cleaning what the killed one left.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LedgerProject, ledgerProject } from "./ledger-project.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
const hasStrace = spawnSync("strace", ["-V"]).status === 0;
if (!hasStrace && process.env.CI === "true") throw new Error("strace is missing: .ci/run installs it");

/** The system calls of a promotion's steps that only the main thread makes. */
const STEPS = ["fsync", "link", "linkat", "rename", "renameat", "renameat2", "unlink", "unlinkat"];

// No compile cache: its writes would be system calls of their own.
const env = { ...process.env, NODE_DISABLE_COMPILE_CACHE: "1" };

function promote(dir: string, run: string, strace: string[] = []) {
  const args = [bin, "promote", run, "--model", "spam", "--json"];
  const r = strace.length
    ? spawnSync("strace", [...strace, process.execPath, ...args], { cwd: dir, env, encoding: "utf8" })
    : spawnSync(process.execPath, args, { cwd: dir, env, encoding: "utf8" });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const cli = (dir: string, ...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: dir, env, encoding: "utf8" });

interface KillPoint {
  syscall: string;
  /** Which call of that system call, counted in the main thread as strace counts (per tracee). */
  nth: number;
  path: string;
}

/** Traces one promotion and returns the main thread's calls of STEPS that touch models/. */
function killPoints(project: LedgerProject, run: string): KillPoint[] {
  const dir = copy(project);
  const trace = join(dir, "..", `trace-${Math.random().toString(36).slice(2)}.txt`);
  const r = promote(dir, run, ["-f", "-qq", "-y", "-e", `trace=${STEPS.join(",")}`, "-o", trace]);
  expect(r.code, r.stderr).toBe(0);
  const lines = readFileSync(trace, "utf8").split("\n").filter(Boolean);
  const main = lines[0]!.split(" ")[0];
  const counts = new Map<string, number>();
  const points: KillPoint[] = [];
  for (const line of lines) {
    const m = /^(\d+)\s+(\w+)\((.*)$/.exec(line);
    if (!m || m[1] !== main) continue;
    const n = (counts.get(m[2]!) ?? 0) + 1;
    counts.set(m[2]!, n);
    if (m[3]!.includes("/models/spam")) points.push({ syscall: m[2]!, nth: n, path: m[3]!.slice(0, 160) });
  }
  return points;
}

const made: string[] = [];
function copy(project: LedgerProject): string {
  const root = mkdtempSync(join(tmpdir(), "track-run-crash-"));
  made.push(root);
  const dir = join(root, "project");
  cpSync(project.dir, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

describe.skipIf(!hasStrace)("a promotion killed at each step", () => {
  let project: LedgerProject;
  let candidate: string;
  let next: string;
  beforeAll(() => {
    project = ledgerProject();
    candidate = project.train(0.9);
    next = project.train(0.91);
  }, 120_000);
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
    rmSync(project.dir, { recursive: true, force: true });
  });

  it("leaves a history that verifies, and the next promotion succeeds at once", () => {
    const points = killPoints(project, candidate);
    // The record's fsync, the link that commits it, production.json's rename, the pending name's removal.
    expect(points.map((p) => p.syscall)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^fsync$/),
        expect.stringMatching(/^link/),
        expect.stringMatching(/^rename/),
        expect.stringMatching(/^unlink/),
      ]),
    );
    for (const point of points) {
      const dir = copy(project);
      const killed = promote(dir, candidate, [
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        `inject=${point.syscall}:signal=KILL:when=${point.nth}`,
      ]);
      const where = `killed at ${point.syscall} #${point.nth} (${point.path})`;
      // strace ends as its tracee did: killed.
      expect(killed.signal ?? killed.code, `${where}: ${killed.stdout}${killed.stderr}`).toMatch(
        /^(SIGKILL|137)$/,
      );
      const promotions = join(dir, ".track-run/ledger/models/spam/promotions");
      const records = readdirSync(promotions).filter((n) => !n.startsWith("."));
      // One record per number, never two of the same.
      expect(
        records.every((n) => /^\d{6}\.sigstore\.json$/.test(n)),
        `${where}: ${records}`,
      ).toBe(true);
      // The history verifies: log reads the chain, verify accepts every record.
      const log = cli(dir, "log", "--model", "spam", "--json");
      expect(log.status, `${where}: ${log.stderr}`).toBe(0);
      const inProduction = (JSON.parse(log.stdout) as Array<{ runId: string; production: boolean }>)
        .filter((r) => r.production)
        .map((r) => r.runId);
      expect([[project.production], [candidate]], where).toContainEqual(inProduction);
      for (const r of records) {
        const v = cli(dir, "verify", join(promotions, r));
        expect(v.status, `${where}: verify ${r}: ${v.stdout}${v.stderr}`).toBe(0);
      }
      // The next promotion succeeds at once and leaves nothing behind.
      const again = promote(dir, next);
      expect(again.code, `${where}: ${again.stdout}${again.stderr}`).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({
        promoted: true,
        pointer: { seq: records.length + 1 },
      });
      expect(
        readdirSync(promotions).filter((n) => n.startsWith(".")),
        where,
      ).toEqual([]);
      const production = JSON.parse(readFileSync(join(promotions, "..", "production.json"), "utf8"));
      expect(production).toMatchObject({ runId: next, seq: records.length + 1 });
    }
  }, 240_000);
});
