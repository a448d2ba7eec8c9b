// The ledger commands as a user meets them: export by run id, candidate sets by commit, and a
// data_valid failure that names the changed file. Host runtime: no engine needed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitAll } from "../../core/test/helpers.js";
import { type LedgerProject, ledgerProject } from "./ledger-project.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
const cli = (dir: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe("ledger commands", () => {
  let p: LedgerProject;
  beforeAll(() => {
    p = ledgerProject();
  }, 60_000);
  afterAll(() => rmSync(p.dir, { recursive: true, force: true }));

  it("exports a run of the ledger by its id, read verified", () => {
    const r = cli(p.dir, "export", "slsa", p.production);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ predicateType: "https://slsa.dev/provenance/v1" });
    const out = mkdtempSync(join(tmpdir(), "track-run-export-"));
    const prov = cli(p.dir, "export", "prov", p.production, "--out", join(out, "prov.json"));
    expect(prov.code, prov.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, "prov.json"), "utf8"))).toHaveProperty("activity");
    rmSync(out, { recursive: true, force: true });
    expect(cli(p.dir, "export", "slsa", "no-such-run").code).toBe(2);
  });

  it("commit:SHA names the candidate runs at that commit, never production itself", () => {
    const a = p.train(0.86);
    const b = p.train(0.87);
    const r = cli(p.dir, "compare", `commit:${head(p.dir)}`, "--json");
    expect(r.code, r.stderr).toBe(0);
    const runs = (JSON.parse(r.stdout) as { verdict: { candidateRuns: string[] } }).verdict.candidateRuns;
    // Oldest first; two runs of one second sort by the id's random part.
    expect([...runs].sort()).toEqual([a, b].sort());
    expect(runs).not.toContain(p.production);
  });

  it("refuses to average runs that differ in more than their seed, naming what differs", () => {
    const a = p.train(0.88);
    writeFileSync(join(p.dir, "data/rows.csv"), "1\n2\n3\n");
    commitAll(p.dir);
    const b = p.train(0.89);
    const r = cli(p.dir, "compare", a, b);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/differ in more than their seed: commit \(.*\), data \(/);
  });

  it("a data_valid failure names the file that changed", () => {
    const run = p.train(0.9);
    writeFileSync(join(p.dir, "data/rows.csv"), "changed\n");
    const r = cli(p.dir, "compare", run);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /data_valid: \S+: a bag no longer validates \(bag rows: changed data\/rows\.csv\)/,
    );
  });
});

describe("records this machine saw verified", () => {
  it("a deleted invalidation record is refused, never read as 'nothing invalidated'", () => {
    const p = ledgerProject();
    const run = p.train(0.9);
    expect(cli(p.dir, "invalidate", run, "--reason", "trained on a leaked test set").code).toBe(0);
    expect(cli(p.dir, "log").code).toBe(0);
    const folder = join(p.dir, ".track-run/ledger/invalidations");
    for (const n of readdirSync(folder)) rmSync(join(folder, n));
    const r = cli(p.dir, "compare", run);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /invalidations\/\S+\.sigstore\.json, signed and verified when this machine read the ledger/,
    );
    rmSync(p.dir, { recursive: true, force: true });
  });
});

describe("a ledger that cannot take a record", () => {
  it.each([
    "dir:/proc/x",
    "dir:/etc/hostname/x",
  ])("%s is refused (exit 2) before the training runs", (ledger) => {
    const dir = mkdtempSync(join(tmpdir(), "track-run-badledger-"));
    const r = spawnSync(
      process.execPath,
      [
        bin,
        "run",
        "--model",
        "m",
        "--runtime",
        "host",
        "--unsigned",
        "--allow-no-git",
        "--ledger",
        ledger,
        "--",
        "sh",
        "-c",
        "echo TRAINING RAN",
      ],
      { cwd: dir, encoding: "utf8", timeout: 30_000 },
    );
    rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`ledger "${ledger}"`);
    expect(r.stdout + r.stderr).not.toContain("TRAINING RAN");
  });
});

function head(dir: string): string {
  return spawnSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8" }).stdout.trim();
}
