import { execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  buildStatement,
  canonicalDigest,
  LedgerReader,
  type LedgerStore,
  openLedger,
  type Policy,
  promoteRun,
  readPrivateKey,
  rollbackModel,
  unsignedEnvelope,
} from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { ledgerSuite, manifest } from "./ledger-fixtures.js";

const suite = ledgerSuite("ledger");
const { record, trust } = suite;

const policy: Policy = {
  model: "spam-classifier",
  metrics: { accuracy: { direction: "higher", max_regression: 0.5 } },
  provenance: { signed: true },
};

const production = async (ledger: LedgerStore) =>
  (await LedgerReader.open(ledger, trust())).production("spam-classifier");
const signing = () => ({ key: readPrivateKey(join(suite.keys, "k.key")) });

describe.each(["dir", "git"] as const)("the %s ledger", (kind) => {
  const open = () => suite.open(kind).store;

  it("records runs, promotes through the gate with a signed record, and rolls back as a new promotion", async () => {
    const ledger = open();
    await record(ledger, manifest("run-a", 0.9));
    await record(ledger, manifest("run-b", 0.92));
    expect(await (await ledger.snapshot()).listRuns()).toEqual(["run-a", "run-b"]);
    const first = await promoteRun({
      store: ledger,
      policy,
      runId: "run-a",
      trust: trust(),
      signing: signing(),
      by: { actor: "ada" },
    });
    expect(first).toMatchObject({ promoted: true, pointer: { seq: 1, runId: "run-a", previous: null } });
    expect(first.verdict.firstModel).toBe(true);
    const second = await promoteRun({
      store: ledger,
      policy,
      runId: "run-b",
      trust: trust(),
      signing: signing(),
      by: { actor: "ada", environment: "production" },
    });
    expect(second.pointer).toMatchObject({
      seq: 2,
      runId: "run-b",
      previous: { runId: "run-a" },
      manifestDigest: canonicalDigest(manifest("run-b", 0.92)),
    });
    const back = await rollbackModel({
      store: ledger,
      trust: trust(),
      model: "spam-classifier",
      signing: signing(),
      by: { actor: "bob" },
    });
    expect(back).toMatchObject({ kind: "rollback", seq: 3, runId: "run-a", previous: { runId: "run-b" } });
    expect((await production(ledger)).head?.pointer.runId).toBe("run-a");
    expect(
      (await production(ledger)).promotions.map(({ pointer: p }) => `${p.seq}:${p.kind}:${p.runId}`),
    ).toEqual(["1:promotion:run-a", "2:promotion:run-b", "3:rollback:run-a"]);
  });

  it("refuses a promotion the gate does not pass, saying which rule", async () => {
    const ledger = open();
    await record(ledger, manifest("good", 0.9));
    await promoteRun({
      store: ledger,
      policy,
      runId: "good",
      trust: trust(),
      signing: signing(),
      by: {},
    });
    await ledger.putRun("unsigned", {
      "manifest.json": JSON.stringify(manifest("unsigned", 0.95)),
      "record.unsigned.json": JSON.stringify(unsignedEnvelope(buildStatement(manifest("unsigned", 0.95)))),
    });
    const r = await promoteRun({
      store: ledger,
      policy,
      runId: "unsigned",
      trust: trust(),
      signing: signing(),
      by: {},
    });
    expect(r.promoted).toBe(false);
    expect(r.verdict.rules.filter((x) => !x.pass).map((x) => x.reason)).toEqual([
      "unsigned: not signed by a trusted key or identity",
    ]);
    expect((await production(ledger)).head?.pointer.runId).toBe("good");
  });
});

describe("the git ledger under contention", () => {
  it("10 processes promote at once: exactly one wins each round, no update is lost, history is linear", async () => {
    const name = "contended";
    const bare = suite.git.repo(name);
    const uri = `git:${suite.git.url(name)}#track-run-ledger`;
    const setup = openLedger(uri, { cacheDir: tempDir() });
    const rounds = 3;
    for (let r = 0; r < rounds; r++)
      for (let p = 0; p < 10; p++) await record(setup, manifest(`r${r}-p${p}`, 0.9 + r * 0.01 + p * 0.0001));
    const policyFile = join(tempDir(), "policy.json");
    writeFileSync(policyFile, JSON.stringify(policy));
    const cli = new URL("../../../cli/bin/track-run.js", import.meta.url).pathname;
    // Ten jobs at once, each with its own runner cache, as matrix jobs on separate runners would be.
    const promote = (runId: string) =>
      new Promise<{ runId: string; promoted: boolean; seq?: number; reason?: string }>((resolve, reject) => {
        const c = spawn(
          process.execPath,
          [
            cli,
            "promote",
            runId,
            "--model",
            "spam-classifier",
            "--ledger",
            uri,
            "--policy",
            policyFile,
            "--trusted-key",
            join(suite.keys, "k.pub"),
            "--key",
            join(suite.keys, "k.key"),
            "--json",
          ],
          { env: { ...process.env, TRACK_RUN_CACHE: tempDir() }, stdio: ["ignore", "pipe", "pipe"] },
        );
        let out = "";
        let err = "";
        c.stdout.on("data", (d) => (out += d));
        c.stderr.on("data", (d) => (err += d));
        c.on("close", (code) => {
          try {
            // Node's fetch talks to the remote: no deprecated url.parse() warning on a git: ledger.
            if (/DeprecationWarning/.test(err)) throw new Error(err);
            const r = JSON.parse(out) as { promoted: boolean; reason?: string; pointer?: { seq: number } };
            resolve({
              runId,
              promoted: r.promoted,
              ...(r.pointer ? { seq: r.pointer.seq } : {}),
              ...(r.reason ? { reason: r.reason } : {}),
            });
          } catch {
            reject(new Error(`promote ${runId} exited ${code}: ${err}${out}`));
          }
        });
      });
    // Of the jobs that read the same production, exactly one wins; a job that starts after a win
    // gates against the new production and may win the next number. No update is ever lost.
    const winners: Array<{ runId: string; seq: number }> = [];
    for (let r = 0; r < rounds; r++) {
      const results = await Promise.all(Array.from({ length: 10 }, (_, p) => promote(`r${r}-p${p}`)));
      const won = results.filter((x) => x.promoted);
      expect(won.length, JSON.stringify(results)).toBeGreaterThanOrEqual(1);
      for (const lost of results.filter((x) => !x.promoted))
        expect(lost.reason).toMatch(/changed while promoting/);
      winners.push(...won.map((w) => ({ runId: w.runId, seq: w.seq! })));
    }
    winners.sort((a, b) => a.seq - b.seq);
    const history = (await production(setup)).promotions.map((p) => p.pointer);
    expect(history.map((p) => p.runId)).toEqual(winners.map((w) => w.runId));
    expect(history.map((p) => p.seq)).toEqual(winners.map((_, i) => i + 1));
    const merges = execFileSync("git", ["-C", bare, "log", "--merges", "--oneline", "track-run-ledger"], {
      encoding: "utf8",
    });
    expect(merges).toBe("");
    const commits = execFileSync("git", ["-C", bare, "rev-list", "--count", "track-run-ledger"], {
      encoding: "utf8",
    }).trim();
    expect(Number(commits)).toBe(30 + winners.length);
  }, 240_000);
});
