// A git: ledger's writes encode their own objects (git-objects.ts): trees, commits and thin packs
// are checked here against git itself (mktree, commit-tree, unpack-objects, fsck).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LedgerReader, openLedger } from "../../src/index.js";
import {
  commitBody,
  diffTrees,
  findEntry,
  objectId,
  packOf,
  parseTree,
  treeWith,
  writeLoose,
} from "../../src/ledger/git-objects.js";
import { gitEnv, tempDir } from "../helpers.js";
import { ledgerSuite, manifest } from "./ledger-fixtures.js";

const suite = ledgerSuite("git-objects");
const git = (dir: string, args: string[], input?: string | Buffer) =>
  execFileSync("git", ["-C", dir, ...args], { env: gitEnv, input: input ?? "", maxBuffer: 1 << 28 });
const bareRepo = () => {
  const dir = tempDir();
  git(dir, ["init", "-q", "--bare"]);
  return dir;
};
const oidOf = (s: string) => objectId("blob", Buffer.from(s));

/** git's own tree of these entries (`git mktree`), as bytes. */
function mktree(dir: string, entries: ReadonlyMap<string, { mode: string; oid: string }>): Buffer {
  const input = [...entries]
    .map(
      ([name, e]) => `${e.mode.padStart(6, "0")} ${e.mode === "40000" ? "tree" : "blob"} ${e.oid}\t${name}`,
    )
    .join("\n");
  const oid = git(dir, ["mktree", "--missing"], `${input}\n`).toString().trim();
  return git(dir, ["cat-file", "tree", oid]);
}

describe("git objects written by a ledger write", () => {
  it("trees are byte for byte what git mktree writes, entries added and replaced in git's order", () => {
    const dir = bareRepo();
    // Names whose order differs between plain byte order and git's (a folder sorts as "name/").
    const names = ["a", "a.b", "a-b", "a0", "ab", "a b", "é", "z", "runs", "runs.txt", "run-1", "b"];
    const base = new Map(
      names.map((n, i) => [n, { mode: i % 3 === 0 ? "40000" : "100644", oid: oidOf(`base ${n}`) }]),
    );
    const baseTree = mktree(dir, base);
    expect(treeWith(undefined, base).body).toEqual(baseTree);
    const set = new Map([
      ["a.b", { mode: "100644", oid: oidOf("new a.b") }], // replaced
      ["a", { mode: "40000", oid: oidOf("new a") }], // a folder replaced
      ["a/", { mode: "40000", oid: oidOf("x") }],
    ]);
    set.delete("a/");
    set.set("a.", { mode: "40000", oid: oidOf("a.") }); // added between a and a.b
    set.set("0", { mode: "100644", oid: oidOf("0") }); // added first
    set.set("zz", { mode: "40000", oid: oidOf("zz") }); // added last
    const out = treeWith(baseTree, set).body;
    expect(out).toEqual(mktree(dir, new Map([...base, ...set])));
    expect(objectId("tree", out)).toBe(
      git(dir, ["hash-object", "-t", "tree", "--stdin"], out).toString().trim(),
    );
    // Every entry is found by name; a prefix of a name is not that name.
    for (const [name, e] of new Map([...base, ...set])) expect(findEntry(out, name)).toEqual(e);
    expect(findEntry(out, "r")).toBeUndefined();
    expect(findEntry(out, "runs.t")).toBeUndefined();
    // A file where a folder of the same name is (or the other way round) is refused, not written twice.
    expect(() => treeWith(baseTree, new Map([["a0", { mode: "100644", oid: oidOf("f") }]]))).toThrow(
      /a file and a folder/,
    );
  });

  it("a tree out of git's order, or with a name twice, is refused as damaged, never written on", () => {
    const dir = bareRepo();
    const entry = (mode: string, name: string, tag: string) =>
      Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(oidOf(tag), "hex")]);
    const a = entry("100644", "a.txt", "a");
    const b = entry("40000", "b", "b");
    const unsorted = Buffer.concat([b, a]);
    const twice = Buffer.concat([a, a]);
    const set = new Map([["c", { mode: "100644", oid: oidOf("c") }]]);
    for (const bad of [unsorted, twice]) {
      expect(() => treeWith(bad, set)).toThrow(/damaged tree object/);
      expect(() => diffTrees(bad, Buffer.concat([a, b]))).toThrow(/damaged tree object/);
      expect(() => diffTrees(Buffer.concat([a, b]), bad)).toThrow(/damaged tree object/);
    }
    // A file added where a folder of that name is, with a name between them ("x.bak" sorts after
    // "x" and before "x/"): refused, not written twice.
    const base = mktree(
      dir,
      new Map([
        ["production.json.bak", { mode: "100644", oid: oidOf("bak") }],
        ["production.json", { mode: "40000", oid: oidOf("dir") }],
      ]),
    );
    expect(() => treeWith(base, new Map([["production.json", { mode: "100644", oid: oidOf("f") }]]))).toThrow(
      /a file and a folder at once/,
    );
  });

  it("two trees' differences are the entries added, removed and changed, as git diff-tree names them", () => {
    const dir = bareRepo();
    const entries = (n: number, tag: string) =>
      new Map(
        Array.from({ length: n }, (_, i) => [
          `run-${String(i).padStart(4, "0")}`,
          { mode: i % 2 ? "40000" : "100644", oid: oidOf(`${tag} ${i}`) },
        ]),
      );
    const a = entries(500, "a");
    const b = new Map(a);
    b.delete("run-0000"); // removed first
    b.delete("run-0250"); // removed in the middle
    b.set("run-0007", { mode: "40000", oid: oidOf("changed") }); // changed
    b.set("run-0100", { mode: "40000", oid: oidOf("a file before") }); // a file become a folder
    b.set("run-0250.x", { mode: "40000", oid: oidOf("added") }); // added
    b.set("run-9999", { mode: "100644", oid: oidOf("added last") });
    const ta = mktree(dir, a);
    const tb = mktree(dir, b);
    const changes = diffTrees(ta, tb);
    const git = execFileSync(
      "git",
      ["-C", dir, "diff-tree", "--name-only", objectId("tree", ta), objectId("tree", tb)],
      { encoding: "utf8" },
    );
    expect([...new Set(changes.map((c) => c.name))].sort()).toEqual(
      [...new Set(git.trim().split("\n"))].sort(),
    );
    expect(changes.find((c) => c.name === "run-0000")).toEqual({
      name: "run-0000",
      before: a.get("run-0000"),
    });
    expect(changes.find((c) => c.name === "run-0007")).toEqual({
      name: "run-0007",
      before: a.get("run-0007"),
      after: b.get("run-0007"),
    });
    expect(changes.find((c) => c.name === "run-9999")).toEqual({
      name: "run-9999",
      after: b.get("run-9999"),
    });
    expect(diffTrees(ta, ta)).toEqual([]);
    expect(diffTrees(Buffer.alloc(0), ta)).toHaveLength(500);
  });

  it("a commit is byte for byte what git commit-tree writes", () => {
    const dir = bareRepo();
    const tree = git(dir, ["mktree"], "").toString().trim();
    const when = { GIT_AUTHOR_DATE: "1700000000 +0000", GIT_COMMITTER_DATE: "1700000000 +0000" };
    const first = execFileSync("git", ["-C", dir, "commit-tree", tree, "-m", "record run r-1"], {
      env: { ...gitEnv, ...when },
      encoding: "utf8",
    }).trim();
    const second = execFileSync("git", ["-C", dir, "commit-tree", tree, "-p", first, "-m", "add x"], {
      env: { ...gitEnv, ...when },
      encoding: "utf8",
    }).trim();
    const author = { name: "t", email: "t@e" };
    const a = commitBody({ tree, author, seconds: 1700000000, message: "record run r-1\n" });
    expect(objectId("commit", a)).toBe(first);
    const b = commitBody({ tree, parent: first, author, seconds: 1700000000, message: "add x\n" });
    expect(objectId("commit", b)).toBe(second);
    expect(git(dir, ["cat-file", "commit", second])).toEqual(b);
  });

  it("a thin pack sends a large tree as a delta git resolves against the tree it replaces", () => {
    const dir = bareRepo();
    // A runs/ tree of 3,000 folders (about 110 KB: copies at offsets of three bytes, several of
    // them), each an empty folder: every object the trees name is in the repository (fsck --strict).
    const empty = { type: "tree" as const, oid: objectId("tree", Buffer.alloc(0)), body: Buffer.alloc(0) };
    writeLoose(dir, empty);
    const base = new Map(
      Array.from({ length: 3000 }, (_, i) => [
        `run-${String(i).padStart(5, "0")}`,
        { mode: "40000", oid: empty.oid },
      ]),
    );
    const baseTree = treeWith(undefined, base).body;
    const baseOid = objectId("tree", baseTree);
    writeLoose(dir, { type: "tree", oid: baseOid, body: baseTree });
    expect(git(dir, ["cat-file", "tree", baseOid])).toEqual(baseTree);
    const blob = Buffer.from("a new record\n");
    const innerBody = treeWith(
      undefined,
      new Map([["record", { mode: "100644", oid: objectId("blob", blob) }]]),
    ).body;
    const inner = { type: "tree" as const, oid: objectId("tree", innerBody), body: innerBody };
    const file = { mode: "40000", oid: inner.oid };
    // Entries added and replaced far apart: first, middle, last.
    const added = new Map([
      ["run-0", file],
      ["run-01500x", file],
      ["run-02999", file],
    ]);
    const { body: next, delta } = treeWith(baseTree, added);
    const nextOid = objectId("tree", next);
    expect(delta.length).toBeLessThan(300);
    const objects = [
      { type: "blob" as const, oid: objectId("blob", blob), body: blob },
      inner,
      { type: "tree" as const, oid: nextOid, body: next, delta: { base: baseOid, data: delta } },
    ];
    const thin = packOf(objects, { thin: true });
    const whole = packOf(objects, { thin: false });
    expect(thin.length).toBeLessThan(500);
    expect(whole.length).toBeGreaterThan(10 * thin.length);
    git(dir, ["unpack-objects", "-q", "--strict"], thin);
    expect(git(dir, ["cat-file", "tree", nextOid])).toEqual(next);
    expect(parseTree(next).map((e) => e.path)).toEqual([...new Map([...base, ...added]).keys()].sort());
    // The whole pack is taken by a repository that lacks the base.
    const other = bareRepo();
    writeLoose(other, empty);
    git(other, ["unpack-objects", "-q", "--strict"], whole);
    expect(git(other, ["cat-file", "tree", nextOid])).toEqual(next);
    // A tree of which every entry changed: the delta still makes it (sent whole where not smaller).
    const all = new Map([...base.keys()].map((n) => [n, file]));
    const redone = treeWith(baseTree, all);
    const redoneOid = objectId("tree", redone.body);
    const pack = packOf(
      [{ type: "tree", oid: redoneOid, body: redone.body, delta: { base: baseOid, data: redone.delta } }],
      {
        thin: true,
      },
    );
    git(dir, ["unpack-objects", "-q", "--strict"], pack);
    expect(git(dir, ["cat-file", "tree", redoneOid])).toEqual(redone.body);
    expect(git(dir, ["fsck", "--strict", "--no-dangling"]).toString()).toBe("");
  });

  it("recording a run in a ledger of 300 pushes a delta of the runs/ tree, which the remote checks and keeps", async () => {
    const { store, bare } = suite.open("git");
    // 300 runs put on the branch by git itself, then one recorded through the ledger.
    const work = tempDir();
    for (let i = 0; i < 300; i++) {
      mkdirSync(join(work, "runs", `seeded-${i}`), { recursive: true });
      writeFileSync(join(work, "runs", `seeded-${i}`, "note.txt"), `${i}\n`);
    }
    git(work, ["init", "-q", "-b", "track-run-ledger"]);
    git(work, ["add", "-A"]);
    git(work, ["commit", "-q", "-m", "seed"]);
    git(work, ["push", "-q", bare!, "track-run-ledger"]);
    const runsTree = git(bare!, ["cat-file", "tree", "track-run-ledger:runs"]);
    expect(runsTree.length).toBeGreaterThan(10_000);
    await store.snapshot();
    const before = suite.git.traffic.bytesIn;
    await suite.record(store, manifest("r-new", 0.9));
    const pushed = suite.git.traffic.bytesIn - before;
    expect(pushed).toBeLessThan(runsTree.length / 2);
    // git checked every object as it came (receive.fsckObjects) and the repository is whole.
    expect(git(bare!, ["fsck", "--strict", "--no-dangling"]).toString()).toBe("");
    const listed = git(bare!, ["ls-tree", "--name-only", "track-run-ledger:runs"])
      .toString()
      .trim()
      .split("\n");
    expect(listed).toHaveLength(301);
    expect(listed).toContain("r-new");
    // A reader with an empty cache, with the git binary and without it, reads the run as written.
    for (const gitBinary of [undefined, null]) {
      const reader = await LedgerReader.open(
        openLedger(store.uri, { cacheDir: tempDir(), ...(gitBinary === null ? { gitBinary } : {}) }),
        suite.trust(),
      );
      expect((await reader.require("r-new")).manifest.metrics.final[0]!.value).toBe(0.9);
    }
    // The writer's own cache holds the commit it pushed: its next write goes on it.
    await store.putRunFile("r-new", "log.txt", "hello\n");
    expect(git(bare!, ["show", "track-run-ledger:runs/r-new/log.txt"]).toString()).toBe("hello\n");
    expect(git(bare!, ["rev-list", "--count", "track-run-ledger"]).toString().trim()).toBe("3");
    expect(readFileSync(join(bare!, "config"), "utf8")).toMatch(/fsckObjects = true/);
  });
});
