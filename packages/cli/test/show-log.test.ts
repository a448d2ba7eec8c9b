// `show` and `log` as a user reads them, through the real CLI on a real ledger.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostRunArgs, ledgerProject, trackRun } from "./ledger-project.js";

describe("show and log", () => {
  it("log keeps its production legend for when a run is in production", () => {
    const p = ledgerProject({ promote: false });
    const run = p.train(0.9);
    const before = trackRun(p.dir, ["log"]);
    expect(before.status).toBe(0);
    expect(before.stdout).toContain(run);
    expect(before.stdout).not.toContain("in production");
    expect(trackRun(p.dir, ["promote", run, "--model", "spam"]).status).toBe(0);
    expect(trackRun(p.dir, ["log"]).stdout).toContain("(* in production)");
  });

  it("log shows the newest runs (20 unless told), says how many there are, and --all shows every one", () => {
    const p = ledgerProject({ promote: false });
    const runs = [p.train(0.8), p.train(0.85), p.train(0.9)];
    const two = trackRun(p.dir, ["log", "--limit", "2"]);
    expect(two.status).toBe(0);
    expect(two.stdout).not.toContain(runs[0]!);
    expect(two.stdout).toContain(runs[1]!);
    expect(two.stdout).toContain(runs[2]!);
    expect(two.stdout).toContain("(the newest 2 of 3 runs: --limit N or --all for more)");
    const all = trackRun(p.dir, ["log", "--all"]);
    for (const r of runs) expect(all.stdout).toContain(r);
    expect(all.stdout).not.toContain("the newest");
    expect(trackRun(p.dir, ["log"]).stdout).not.toContain("the newest");
    // What is in production is always shown, however old.
    expect(trackRun(p.dir, ["promote", runs[0]!, "--model", "spam"]).status).toBe(0);
    const one = trackRun(p.dir, ["log", "--limit", "1"]);
    expect(one.stdout).toMatch(new RegExp(`^\\*\\s+${runs[0]}`, "m"));
    expect(one.stdout).not.toContain(runs[1]!);
    expect(one.stdout).toContain(runs[2]!);
    expect(one.stdout).toContain("(the newest 1 of 3 runs, and production: --limit N or --all for more)");
    const bad = trackRun(p.dir, ["log", "--limit", "0"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--limit "0" is not a positive whole number');
  });

  it("a folder whose name holds a newline cannot forge a line of the log", () => {
    const p = ledgerProject({ promote: false });
    const run = p.train(0.9);
    mkdirSync(join(p.dir, ".track-run/ledger/runs", "zz\n  r9  prod  accuracy=0.99"), { recursive: true });
    const r = trackRun(p.dir, ["log"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(run);
    const lines = `${r.stdout}${r.stderr}`.split("\n");
    expect(lines.some((l) => l.trimStart().startsWith("r9"))).toBe(false);
    expect(r.stdout).toContain("DAMAGED");
    expect(r.stderr).toMatch(/zz\\x0a {2}r9/);
  });

  it("show gives a failed run's params, seed, timing and the end of its log", () => {
    const p = ledgerProject({ promote: false });
    const r = trackRun(
      p.dir,
      hostRunArgs("echo loading; echo 'ValueError: epochs must be positive' >&2; exit 3", {
        data: false,
        flags: ["--seed", "11"],
      }),
    );
    const runId = (JSON.parse(r.stdout) as { runId: string }).runId;
    const show = trackRun(p.dir, ["show", runId]);
    expect(show.stdout).toContain(": failed (");
    expect(show.stdout).toContain("seed     11");
    expect(show.stdout).toContain("params   none");
    expect(show.stdout).toMatch(/timing {3}\S+ → \S+ \(/);
    expect(show.stdout).toContain("exit     3");
    expect(show.stdout).toMatch(
      /log {6}the last \d+ lines of log\.txt:\n(\s+\| .*\n)*\s+\| ValueError: epochs must be positive/,
    );
  });
});
