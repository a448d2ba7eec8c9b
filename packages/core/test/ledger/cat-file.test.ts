// The git binary's reader of the cache repository (cat-file.ts) reads what isomorphic-git reads, and
// a git: ledger reads the same records through either.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as git from "isomorphic-git";
import { describe, expect, it } from "vitest";
import { LedgerReader, openLedger } from "../../src/index.js";
import { CatFile, findGit } from "../../src/ledger/cat-file.js";
import { commitTree, parseTree } from "../../src/ledger/git-objects.js";
import { gitEnv, tempDir } from "../helpers.js";
import { ledgerSuite, manifest } from "./ledger-fixtures.js";

const suite = ledgerSuite("cat-file");

describe("git cat-file --batch", () => {
  it("reads blobs, trees and commits as isomorphic-git does, and refuses an object it lacks", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "runs", "r 1"), { recursive: true });
    writeFileSync(join(dir, "runs", "r 1", "manifest.json"), "{}\n");
    writeFileSync(join(dir, "é.txt"), Buffer.alloc(200_000, 7));
    execFileSync("git", ["init", "-q", dir], { env: gitEnv });
    execFileSync("git", ["-C", dir, "add", "-A"], { env: gitEnv });
    execFileSync("git", ["-C", dir, "commit", "-q", "-m", "x"], { env: gitEnv });
    const head = execFileSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    const gitdir = join(dir, ".git");
    const cat = new CatFile(findGit()!, gitdir);
    const [commit, second] = await Promise.all([cat.read(head), cat.read(head)]);
    expect(commit.type).toBe("commit");
    expect(second.body).toEqual(commit.body);
    const tree = commitTree(commit.body);
    expect(tree).toBe((await git.readCommit({ fs, gitdir, oid: head })).commit.tree);
    const entries = parseTree((await cat.read(tree)).body);
    expect(entries).toEqual((await git.readTree({ fs, gitdir, oid: tree })).tree);
    const big = entries.find((e) => e.path === "é.txt")!;
    expect((await cat.read(big.oid)).body).toEqual(Buffer.alloc(200_000, 7));
    await expect(cat.read("0".repeat(40))).rejects.toThrow(/missing/);
    await expect(cat.read("not an id")).rejects.toThrow(/not an object id/);
    // Still answering after a refusal.
    expect((await cat.read(head)).type).toBe("commit");
  });

  it("reads a 24 MiB object whole, across many chunks, and ends its process when idle", async () => {
    const dir = tempDir();
    execFileSync("git", ["init", "-q", "--bare", dir], { env: gitEnv });
    const big = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const oid = execFileSync("git", ["--git-dir", dir, "hash-object", "-w", "--stdin"], {
      input: big,
      encoding: "utf8",
      env: gitEnv,
    }).trim();
    const cat = new CatFile(findGit()!, dir);
    const o = await cat.read(oid);
    expect(o.body.equals(big)).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect((cat as unknown as { child?: unknown }).child).toBeUndefined();
    expect((await cat.read(oid)).body.length).toBe(big.length);
  });

  it("a git: ledger reads the same records with the git binary and with isomorphic-git", async () => {
    const { store } = suite.open("git");
    for (const [i, id] of ["run-a", "run-b", "run-c"].entries())
      await suite.record(store, manifest(id, 0.9 + i / 100));
    const uri = store.uri;
    const read = async (gitBinary: string | null) =>
      (
        await (
          await LedgerReader.open(openLedger(uri, { cacheDir: tempDir(), gitBinary }), suite.trust())
        ).runs()
      ).map((r) => [r.runId, r.trust, r.manifestDigest]);
    const withBinary = await read(findGit());
    expect(withBinary.map((r) => r[1])).toEqual(["verified", "verified", "verified"]);
    expect(await read(null)).toEqual(withBinary);
  }, 60_000);
});
