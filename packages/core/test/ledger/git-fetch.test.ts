// A git: ledger's fetch by the git binary (git-fetch.ts): after another writer's commit a warm cache
// is sent what changed, not the ledger again; credentials travel as a header, never in a message.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
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

  it("never follows a redirect to another host with the token, and takes no answer that is not git's", async () => {
    const { store } = seeded(3);
    const token = "ghs_redirected-token-456";
    // A server that sends every request to the real one (another origin: other host and port).
    const seen: string[] = [];
    const target = new URL(suite.git.url("x")).origin;
    const hop = createHttpServer((req, res) => {
      if (req.headers.authorization) seen.push(String(req.headers.authorization));
      res.writeHead(301, { location: `${target}${req.url}` }).end();
    });
    const other = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end("<html>please log in</html>");
    });
    await Promise.all([hop, other].map((srv) => new Promise<void>((r) => srv.listen(0, "127.0.0.1", r))));
    const at = (srv: ReturnType<typeof createHttpServer>) =>
      `git:http://localhost:${(srv.address() as { port: number }).port}/${new URL(store.uri.slice(4)).pathname.slice(1)}`;
    try {
      suite.git.traffic.authorizations.clear();
      const redirected = openLedger(at(hop), { cacheDir: tempDir(), token });
      await expect(redirected.snapshot()).rejects.toThrow(
        /redirects to http:\/\/127\.0\.0\.1:\d+, another host or scheme/,
      );
      // Node's fetch dropped the header on the hop; nothing reached the other host with it.
      expect([...suite.git.traffic.authorizations]).toEqual([]);
      const notGit = openLedger(at(other), { cacheDir: tempDir(), token });
      await expect(notGit.snapshot()).rejects.toThrow(
        /did not answer as a git server \(content type "text\/html"\)/,
      );
    } finally {
      await Promise.all([hop, other].map((srv) => new Promise((r) => srv.close(r))));
    }
    expect(seen.length).toBeGreaterThan(0); // the hop itself was sent the token (it is the ledger's URL)
  }, 60_000);

  it("fetches into one cache from several commands at once, and past a lock a killed fetch left", async () => {
    const { store } = seeded(50);
    const cache = tempDir();
    const readers = () => Array.from({ length: 4 }, () => openLedger(store.uri, { cacheDir: cache }));
    await readers()[0]!.snapshot();
    for (let round = 0; round < 3; round++) {
      await suite.record(openLedger(store.uri, { cacheDir: tempDir() }), manifest(`r-${round}`, 0.9));
      const snapshots = await Promise.all(readers().map((r) => r.snapshot()));
      for (const s of snapshots) expect(await s.listRunFiles(`r-${round}`)).toBeDefined();
    }
    // A fetch killed midway leaves git's lock behind: the next one goes on.
    const gitdir = join(cache, "ledger-git", readdirSync(join(cache, "ledger-git"))[0]!);
    writeFileSync(join(gitdir, "shallow.lock"), "");
    await suite.record(openLedger(store.uri, { cacheDir: tempDir() }), manifest("r-last", 0.9));
    expect(await (await readers()[0]!.snapshot()).listRunFiles("r-last")).toBeDefined();
    expect(existsSync(join(gitdir, "track-run-fetch.lock"))).toBe(false);
  }, 60_000);

  it("keeps a password written in the ledger's URL out of the cache repository and out of every message", async () => {
    const { store } = seeded(2);
    const url = new URL(store.uri.slice(4).replace(/#.*/, ""));
    url.username = "bob";
    url.password = "pa@ss-SECRET";
    const cache = tempDir();
    const ledger = openLedger(`git:${url.toString()}#track-run-ledger`, { cacheDir: cache });
    expect(ledger.uri).not.toMatch(/SECRET|bob/);
    await ledger.snapshot();
    await suite.record(openLedger(store.uri, { cacheDir: tempDir() }), manifest("r-1", 0.9));
    await ledger.snapshot();
    const gitdir = join(cache, "ledger-git", readdirSync(join(cache, "ledger-git"))[0]!);
    for (const f of ["config", "FETCH_HEAD"])
      if (existsSync(join(gitdir, f))) expect(readFileSync(join(gitdir, f), "utf8")).not.toMatch(/SECRET/);
  }, 60_000);
});
