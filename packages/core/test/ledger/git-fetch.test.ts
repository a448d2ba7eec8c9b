// A git: ledger's fetch by the git binary (git-fetch.ts): after another writer's commit a warm cache
// is sent what changed, not the ledger again; credentials travel as a header, never in a message.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LedgerReader, openLedger, UsageError } from "../../src/index.js";
import { gitEnv, tempDir } from "../helpers.js";
import { ledgerSuite, manifest } from "./ledger-fixtures.js";

const suite = ledgerSuite("git-fetch");

/** A git: ledger of `n` run folders put on the branch by git itself. */
function seeded(n: number) {
  const { store, bare } = suite.open("git");
  const work = tempDir();
  for (let i = 0; i < n; i++) {
    mkdirSync(join(work, "runs", `seeded-${i}`), { recursive: true });
    writeFileSync(join(work, "runs", `seeded-${i}`, "note.txt"), `run ${i} ${"x".repeat(200)}\n`);
  }
  const git = (...a: string[]) => execFileSync("git", ["-C", work, ...a], { env: gitEnv });
  git("init", "-q", "-b", "track-run-ledger");
  git("add", "-A");
  git("commit", "-q", "-m", "seed");
  git("push", "-q", bare!, "track-run-ledger");
  return { store, bare: bare! };
}

describe("a git: ledger's fetch", () => {
  it("after another writer's commit, a warm cache is sent what changed, not the ledger again", async () => {
    const { store } = seeded(500);
    const before = suite.git.traffic.bytesOut;
    await store.snapshot();
    const whole = suite.git.traffic.bytesOut - before;
    expect(whole).toBeGreaterThan(20_000);
    for (let i = 0; i < 3; i++) {
      // Another writer, with its own cache, records a run.
      await suite.record(openLedger(store.uri, { cacheDir: tempDir() }), manifest(`r-${i}`, 0.9));
      const at = suite.git.traffic.bytesOut;
      const snapshot = await store.snapshot();
      expect(suite.git.traffic.bytesOut - at).toBeLessThan(whole / 10);
      expect(await snapshot.listRunFiles(`r-${i}`)).toEqual(["bundle.sigstore.json", "manifest.json"]);
    }
    // Nothing new: the remote's tip is asked for, nothing is fetched.
    const requests = suite.git.traffic.requests;
    await store.snapshot();
    expect(suite.git.traffic.requests - requests).toBe(1);
    const reader = await LedgerReader.open(store, suite.trust());
    expect((await reader.runs()).filter((r) => r.runId.startsWith("r-")).map((r) => r.trust)).toEqual([
      "verified",
      "verified",
      "verified",
    ]);
  }, 60_000);

  it("sends the token as a header on every request, and never names it", async () => {
    const { store } = seeded(3);
    const token = "ghs_secret-token-123";
    const withToken = openLedger(store.uri, { cacheDir: tempDir(), token });
    suite.git.traffic.authorizations.clear();
    await suite.record(openLedger(store.uri, { cacheDir: tempDir() }), manifest("r-1", 0.9));
    await withToken.snapshot(); // the first fetch (the branch moved: git fetch runs)
    await suite.record(withToken, manifest("r-2", 0.9)); // a push
    const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
    expect([...suite.git.traffic.authorizations]).toEqual([expected]);

    // An unreachable remote: exit 2, naming the ledger, never the token.
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const gone = openLedger(`git:http://127.0.0.1:${port}/nowhere.git#track-run-ledger`, {
      cacheDir: tempDir(),
      token,
    });
    const e = await gone.snapshot().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toMatch(
      /ledger git:http:\/\/127\.0\.0\.1:\d+\/nowhere\.git#track-run-ledger cannot be fetched/,
    );
    expect((e as UsageError).message).not.toContain(token);
  }, 60_000);

  it("takes only branch names git takes: never an option, a refspec or a path out of refs/heads", () => {
    for (const branch of [
      "--upload-pack=touch x",
      "a:refs/heads/main",
      "a b",
      "../x",
      "x.lock",
      "a..b",
      "-x",
      "x/",
      "a@{1}",
      "é",
    ])
      expect(() => openLedger(`git:http://127.0.0.1:1/r.git#${branch}`, { cacheDir: tempDir() })).toThrow(
        expect.objectContaining({
          code: "bad-ledger",
          message: expect.stringMatching(/not a branch name git takes/),
        }),
      );
    for (const branch of ["track-run-ledger", "ledgers/main", "v1.2_x"])
      expect(openLedger(`git:http://127.0.0.1:1/r.git#${branch}`, { cacheDir: tempDir() }).uri).toMatch(/#/);
  });
});
