// The local index of verified records (run-index.ts): a second command reads from it without reading
// the records' files; an edit, a damaged database or another trust policy means verifying again; a
// git: ledger is fetched shallow, and a promotion from a shallow cache lands.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import {
  LedgerReader,
  type LedgerSnapshot,
  type LedgerStore,
  type ListingEntry,
  openLedger,
  type Pick,
  type Policy,
  promoteRun,
  RunIndex,
  type RunListing,
  readPrivateKey,
  runIndexPath,
} from "../../src/index.js";
import { IndexedListing, type ListingRows, MapListing } from "../../src/ledger/run-listing.js";
import { gitEnv, tempDir } from "../helpers.js";
import { ledgerSuite, manifest } from "./ledger-fixtures.js";

const suite = ledgerSuite("index", ["k", "other"]);
const { record, trust } = suite;

/** The store, with every file read of its snapshots counted. */
function counting(store: LedgerStore): { store: LedgerStore; reads: () => number; listings: () => number } {
  let reads = 0;
  let listings = 0;
  const wrapped = Object.create(store) as LedgerStore;
  wrapped.snapshot = async () => {
    const s = await store.snapshot();
    return new Proxy(s, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        if (prop === "readRunFile" || prop === "listRuns")
          return (...a: unknown[]) => {
            if (prop === "readRunFile") reads++;
            else listings++;
            return (v as (...x: unknown[]) => unknown).apply(target, a);
          };
        return (v as (...x: unknown[]) => unknown).bind(target);
      },
    }) as LedgerSnapshot;
  };
  return { store: wrapped, reads: () => reads, listings: () => listings };
}

async function read(store: LedgerStore, cache: string, t = trust()) {
  const index = await RunIndex.open(cache, store.uri);
  expect(index).toBeDefined();
  const c = counting(store);
  const reader = await LedgerReader.open(c.store, t, { index: index! });
  const runs = await reader.runs();
  index!.close();
  return { runs, reads: c.reads(), listings: c.listings(), counts: index!.counts, reader };
}

/** Promotes the run to production of `model` through a gate it passes, signed by key k. */
async function promote(store: LedgerStore, cache: string, model: string, runId: string): Promise<void> {
  const promoted = await promoteRun({
    store,
    policy: { model, metrics: { accuracy: { direction: "higher", max_regression: 0.5 } } },
    runId,
    trust: trust(),
    signing: { key: readPrivateKey(join(suite.keys, "k.key")) },
    by: { actor: "ci" },
    index: (await RunIndex.open(cache, store.uri))!,
  });
  expect(promoted.promoted).toBe(true);
}

/** A dir: ledger's files are trusted by their stats only once older than the racy window. */
const settle = () => new Promise((r) => setTimeout(r, 2100));

describe.each(["dir", "git"] as const)("the index over a %s ledger", (kind) => {
  const open = () => suite.open(kind);

  it("a second command reads the records from the index, without reading their files; an edit is caught", async () => {
    const { store } = open();
    for (const [i, id] of ["run-a", "run-b", "run-c"].entries())
      await record(store, manifest(id, 0.9 + i / 100));
    await settle();
    const cache = tempDir();
    const first = await read(store, cache);
    expect(first.runs.map((r) => `${r.runId}:${r.trust}`)).toEqual([
      "run-a:verified",
      "run-b:verified",
      "run-c:verified",
    ]);
    expect(first.counts).toEqual({ hits: 0, verified: 3 });
    expect(first.reads).toBeGreaterThan(0);

    const second = await read(store, cache);
    expect(second.counts).toEqual({ hits: 3, verified: 0 });
    expect(second.reads).toBe(0);
    expect(second.runs).toEqual(first.runs);
    // A command that needs the bundle itself reads that one record again.
    expect((await second.reader.forReproduction("run-b")).bundle).toBeDefined();

    // The stored manifest edited after signing (same size): the index had it verified, yet it is caught.
    const edited = manifest("run-b", 0.91);
    const body = JSON.stringify({
      ...edited,
      metrics: { final: [{ ...edited.metrics.final[0]!, value: 0.99 }] },
    });
    expect(body.length).toBe(JSON.stringify(edited).length);
    if (kind === "dir") writeFileSync(join(store.uri.slice(4), "runs", "run-b", "manifest.json"), body);
    else await store.putRunFile("run-b", "manifest.json", body);
    const third = await read(store, cache);
    // Read whole, as every command that shows or decides on a run reads it: caught on either kind.
    const b = (await third.reader.find("run-b"))!;
    expect(b.trust).toBe("damaged");
    expect(b.problems.join("\n")).toMatch(/manifest\.json differs from the signed manifest/);
    if (kind === "git") {
      // On git the listing's key is the folder's tree oid: the listing sees it too.
      expect(third.counts).toEqual({ hits: 2, verified: 1 });
      expect(third.runs.find((r) => r.runId === "run-b")!.trust).toBe("damaged");
    } else {
      // On dir: a file edited in place leaves the folder's stat alone: the listing shows the record
      // as it was verified (signed content), the whole read above found the damage.
      expect(third.runs.find((r) => r.runId === "run-b")!.trust).toBe("verified");
    }
    if (kind === "dir") {
      // A file added by hand inside a run folder changes the folder's stat: the listing verifies it again.
      writeFileSync(join(store.uri.slice(4), "runs", "run-b", "extra.txt"), "x");
      await settle();
      const fourth = await read(store, cache);
      expect(fourth.counts.verified).toBe(1);
      expect(fourth.runs.find((r) => r.runId === "run-b")!.trust).toBe("damaged");
    }
  }, 60_000);

  it("a changed trust policy verifies every record again; the first policy's verdicts stay beside its own", async () => {
    const { store } = open();
    await record(store, manifest("run-a", 0.9));
    await settle();
    const cache = tempDir();
    expect((await read(store, cache)).counts).toEqual({ hits: 0, verified: 1 });
    const other = await read(store, cache, trust("other"));
    expect(other.counts).toEqual({ hits: 0, verified: 1 });
    expect(other.runs[0]!.trust).toBe("untrusted");
    const back = await read(store, cache);
    expect(back.counts).toEqual({ hits: 1, verified: 0 });
    expect(back.runs[0]!.trust).toBe("verified");
  }, 60_000);
});

describe("a git: listing after other writers' commits", () => {
  it("takes the runs they changed from the two runs/ trees, and lists what a fresh reader lists", async () => {
    const { store, bare } = suite.open("git");
    for (const id of ["run-a", "run-b", "run-c", "run-d", "run-e"]) await record(store, manifest(id, 0.9));
    const cache = tempDir();
    const first = await read(store, cache);
    expect(first.counts).toEqual({ hits: 0, verified: 5 });
    expect(first.listings).toBe(1);
    const before = execFileSync("git", ["-C", bare!, "rev-parse", "track-run-ledger"], {
      encoding: "utf8",
    }).trim();

    // Another writer: a run added, a file added to a run, a manifest edited after signing.
    const other = openLedger(store.uri, { cacheDir: tempDir() });
    await record(other, manifest("run-aa", 0.8));
    await other.putRunFile("run-c", "log.txt", "more\n");
    const edited = manifest("run-b", 0.9);
    await other.putRunFile(
      "run-b",
      "manifest.json",
      JSON.stringify({ ...edited, metrics: { final: [{ ...edited.metrics.final[0]!, value: 0.1 }] } }),
    );
    const next = await read(store, cache);
    // The unchanged runs come from the index without listing runs/; the three changed are verified.
    expect(next.listings).toBe(0);
    expect(next.counts).toEqual({ hits: 3, verified: 3 });
    const fresh = await read(store, tempDir());
    expect(fresh.listings).toBe(1);
    expect(next.runs).toEqual(fresh.runs);
    expect(next.runs.map((r) => `${r.runId}:${r.trust}`)).toEqual([
      "run-a:verified",
      "run-aa:verified",
      "run-b:damaged",
      "run-c:verified",
      "run-d:verified",
      "run-e:verified",
    ]);
    // That listing is complete in turn: the next command reads every run from the index.
    expect((await read(store, cache)).counts).toEqual({ hits: 6, verified: 0 });

    // The branch rewound to before those commits: the runs it drops are gone from the listing.
    execFileSync("git", ["-C", bare!, "update-ref", "refs/heads/track-run-ledger", before]);
    const rewound = await read(store, cache);
    expect(rewound.listings).toBe(0);
    expect(rewound.runs.map((r) => `${r.runId}:${r.trust}`)).toEqual(
      ["run-a", "run-b", "run-c", "run-d", "run-e"].map((id) => `${id}:verified`),
    );
    expect(rewound.runs).toEqual((await read(store, tempDir())).runs);
  }, 60_000);
});

describe("a git: runs/ tree no git would write", () => {
  it("pushed where the server does not check it, hides no run from a later listing", async () => {
    const { store, bare } = suite.open("git");
    for (const id of ["run-a", "run-b", "run-c"]) await record(store, manifest(id, 0.9));
    const cache = tempDir();
    expect((await read(store, cache)).runs).toHaveLength(3);
    const git = (args: string[], input?: Buffer) =>
      execFileSync("git", ["-C", bare!, ...args], { ...(input ? { input } : {}) });
    const at = (rev: string) => git(["rev-parse", rev]).toString().trim();
    /** A commit of `tree` on the branch's tip, put there as a plain server takes any push. */
    const commit = (tree: string, message: string) => {
      const c = execFileSync(
        "git",
        ["-C", bare!, "commit-tree", tree, "-p", at("track-run-ledger"), "-m", message],
        { env: gitEnv },
      );
      git(["update-ref", "refs/heads/track-run-ledger", c.toString().trim()]);
    };
    const cleanRoot = at("track-run-ledger^{tree}");
    const runs = git(["cat-file", "tree", "track-run-ledger:runs"]);
    // The same run folders, the first moved last: out of git's order.
    const first = runs.indexOf(0) + 21;
    const unsorted = Buffer.concat([runs.subarray(first), runs.subarray(0, first)]);
    const badRuns = git(["hash-object", "--literally", "-t", "tree", "-w", "--stdin"], unsorted)
      .toString()
      .trim();
    const root = git(["cat-file", "tree", cleanRoot]);
    const badRoot = Buffer.from(root);
    Buffer.from(badRuns, "hex").copy(badRoot, root.indexOf(Buffer.from("runs\0")) + 5);
    commit(
      git(["hash-object", "--literally", "-t", "tree", "-w", "--stdin"], badRoot).toString().trim(),
      "reorder",
    );
    expect((await read(store, cache)).runs.map((r) => r.runId).sort()).toEqual(["run-a", "run-b", "run-c"]);
    // The clean tree back: every run is listed and found, as a fresh reader lists them.
    commit(cleanRoot, "restore");
    const after = await read(store, cache);
    expect(after.runs.map((r) => `${r.runId}:${r.trust}`)).toEqual(
      ["run-a", "run-b", "run-c"].map((id) => `${id}:verified`),
    );
    expect((await after.reader.require("run-a")).trust).toBe("verified");
    expect(after.runs).toEqual((await read(store, tempDir())).runs);
    // A write on a damaged tree writes nothing, and says so.
    commit(
      git(["hash-object", "--literally", "-t", "tree", "-w", "--stdin"], badRoot).toString().trim(),
      "reorder again",
    );
    const tipBefore = at("track-run-ledger");
    await expect(
      record(openLedger(store.uri, { cacheDir: tempDir() }), manifest("run-d", 0.9)),
    ).rejects.toThrow(/damaged tree object.*nothing was written; restore the branch from its history/);
    expect(at("track-run-ledger")).toBe(tipBefore);
  }, 60_000);

  it("naming a run folder twice: every reader reads its first entry, with or without the index", async () => {
    const { store, bare } = suite.open("git");
    for (const id of ["run-a", "run-b"]) await record(store, manifest(id, 0.9));
    const cache = tempDir();
    expect((await read(store, cache)).runs).toHaveLength(2);
    const git = (args: string[], input?: Buffer) =>
      execFileSync("git", ["-C", bare!, ...args], { ...(input ? { input } : {}), env: gitEnv });
    const runs = git(["cat-file", "tree", "track-run-ledger:runs"]);
    // run-b named twice: first as run-a's folder (a record of another run: damaged), then as itself.
    const b = runs.indexOf(Buffer.from("run-b\0"));
    const entryStart = runs.lastIndexOf(Buffer.from("40000 "), b);
    const aOid = runs.subarray(
      runs.indexOf(Buffer.from("run-a\0")) + 6,
      runs.indexOf(Buffer.from("run-a\0")) + 26,
    );
    const twice = Buffer.concat([runs.subarray(0, b + 6), aOid, runs.subarray(entryStart)]);
    const badRuns = git(["hash-object", "--literally", "-t", "tree", "-w", "--stdin"], twice)
      .toString()
      .trim();
    const root = Buffer.from(git(["cat-file", "tree", "track-run-ledger^{tree}"]));
    Buffer.from(badRuns, "hex").copy(root, root.indexOf(Buffer.from("runs\0")) + 5);
    const tree = git(["hash-object", "--literally", "-t", "tree", "-w", "--stdin"], root).toString().trim();
    const tip = git(["rev-parse", "track-run-ledger"]).toString().trim();
    const c = git(["commit-tree", tree, "-p", tip, "-m", "run-b twice"]).toString().trim();
    git(["update-ref", "refs/heads/track-run-ledger", c]);
    const plain = await (
      await LedgerReader.open(openLedger(store.uri, { cacheDir: tempDir() }), trust())
    ).find("run-b");
    expect(plain?.trust).toBe("damaged");
    for (let i = 0; i < 2; i++) {
      const again = await read(store, cache);
      expect(again.runs.map((r) => `${r.runId}:${r.trust}`)).toEqual(["run-a:verified", "run-b:damaged"]);
      expect((await again.reader.find("run-b"))?.trust).toBe("damaged");
    }
  }, 60_000);
});

describe("a dir: ledger's racy files", () => {
  it("a folder modified within 2 s of the index's writing is verified again", async () => {
    const store = openLedger(`dir:${tempDir()}`);
    await record(store, manifest("run-a", 0.9));
    const cache = tempDir();
    expect((await read(store, cache)).counts).toEqual({ hits: 0, verified: 1 });
    expect((await read(store, cache)).counts).toEqual({ hits: 0, verified: 1 });
  });
});

describe("a damaged index", () => {
  it("is rebuilt from the records: not SQLite, another schema, or a row that does not match", async () => {
    const store = openLedger(`dir:${tempDir()}`);
    await record(store, manifest("run-a", 0.9));
    await settle();
    const cache = tempDir();
    const path = runIndexPath(cache, store.uri);
    mkdirSync(join(cache, "ledger-index"), { recursive: true });
    writeFileSync(path, "this is not a database, but it claims to be one\n".repeat(100));
    const rebuilt = await read(store, cache);
    expect(rebuilt.counts).toEqual({ hits: 0, verified: 1 });
    expect(readFileSync(path).subarray(0, 15).toString()).toBe("SQLite format 3");
    expect((await read(store, cache)).counts).toEqual({ hits: 1, verified: 0 });

    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    expect((await read(store, cache)).counts).toEqual({ hits: 0, verified: 1 });

    // A row whose record was edited to say another run: never returned for this one.
    const db2 = new DatabaseSync(path);
    db2
      .prepare("UPDATE runs SET record = ?, listed = ? WHERE run_id = ?")
      .run(JSON.stringify({ runId: "run-z" }), JSON.stringify({ runId: "run-z" }), "run-a");
    db2.close();
    const again = await read(store, cache);
    expect(again.counts.verified).toBe(1);
    expect(again.runs[0]).toMatchObject({ runId: "run-a", trust: "verified" });
  }, 30_000);
});

describe("this machine's anchors", () => {
  it("keep a model named like an Object.prototype member (constructor) as any other", async () => {
    const store = openLedger(`dir:${tempDir()}`);
    await record(store, { ...manifest("run-a", 0.9), model: "constructor" });
    const cache = tempDir();
    await promote(store, cache, "constructor", "run-a");
    for (let i = 0; i < 2; i++) {
      const index = (await RunIndex.open(cache, store.uri))!;
      const reader = await LedgerReader.open(store, trust(), { index });
      expect((await reader.production("constructor")).head?.pointer.runId).toBe("run-a");
      index.close();
    }
  }, 30_000);
});

describe("a git: ledger read from an empty cache", () => {
  const policy: Policy = {
    model: "spam-classifier",
    metrics: { accuracy: { direction: "higher", max_regression: 0.5 } },
    provenance: { signed: true },
  };

  it("is fetched shallow (the tip only), and a promotion from that shallow cache lands", async () => {
    const name = "shallow";
    const bare = suite.git.repo(name);
    const uri = `git:${suite.git.url(name)}#track-run-ledger`;
    const writer = openLedger(uri, { cacheDir: tempDir() });
    for (let i = 0; i < 5; i++) await record(writer, manifest(`run-${i}`, 0.9 + i / 100));

    const cold = tempDir();
    const store = openLedger(uri, { cacheDir: cold });
    const runs = await (await LedgerReader.open(store, trust())).runs();
    expect(runs.map((r) => r.trust)).toEqual(Array(5).fill("verified"));
    const gitdir = join(
      cold,
      "ledger-git",
      execFileSync("ls", [join(cold, "ledger-git")], { encoding: "utf8" }).trim(),
    );
    expect(existsSync(join(gitdir, "shallow"))).toBe(true);
    expect(readFileSync(join(gitdir, "shallow"), "utf8").trim().split("\n")).toHaveLength(1);

    const promoting = openLedger(uri, { cacheDir: tempDir() });
    const r = await promoteRun({
      store: promoting,
      policy,
      runId: "run-3",
      trust: trust(),
      signing: { key: readPrivateKey(join(suite.keys, "k.key")) },
      by: { actor: "ci" },
    });
    expect(r.promoted).toBe(true);
    // The remote holds every object of the new commit, and history stays linear.
    execFileSync("git", ["-C", bare, "fsck", "--strict", "--no-dangling"], { stdio: "pipe" });
    const log = execFileSync("git", ["-C", bare, "log", "--format=%P %s", "track-run-ledger"], {
      encoding: "utf8",
    }).trim();
    expect(log.split("\n")).toHaveLength(6);
    expect(log.split("\n")[0]).toMatch(/^[0-9a-f]{40} promotion spam-classifier #1: run-3$/);
    // The reader with a shallow cache sees it too, fetched incrementally.
    expect(
      (await (await LedgerReader.open(store, trust())).production("spam-classifier")).head?.pointer.runId,
    ).toBe("run-3");
  }, 60_000);
});

describe("a listing answered by the index", () => {
  /** A ledger of two models over three commits, a reproduction and a promotion, its index built. */
  async function ledger(kind: "dir" | "git" = "dir") {
    const { store } = suite.open(kind);
    const at = (i: number) => `2026-11-30T10:${String(i).padStart(2, "0")}:00.000Z`;
    const runs = [
      { id: "run-a", model: "spam", commit: "a".repeat(40), minute: 5 },
      { id: "run-b", model: "spam", commit: "b".repeat(40), minute: 1 },
      { id: "run-c", model: "ham", commit: "a".repeat(40), minute: 9 },
      { id: "run-d", model: "spam", commit: "a".repeat(40), minute: 3, of: "run-a" },
      { id: "run-e", model: "spam", commit: "c".repeat(40), minute: 7 },
    ];
    for (const r of runs) {
      const m = manifest(r.id, 0.9);
      await record(store, {
        ...m,
        model: r.model,
        code: { ...m.code, commit: r.commit },
        timing: { ...m.timing, finishedAt: at(r.minute) },
        ...(r.of ? { links: { ...m.links, reproductionOf: r.of } } : {}),
      });
    }
    const cache = tempDir();
    await promote(store, cache, "spam", "run-e");
    await settle();
    await read(store, cache);
    return { store, cache };
  }

  /** Every question a command asks of a listing, answered. */
  async function answers(listing: RunListing) {
    const picks: Pick[] = [
      {},
      { model: "spam" },
      { modelOrNone: "ham" },
      { model: "spam", commitPrefix: "aaaaaaa", original: true },
      { reproductionOf: "run-a" },
      { withCopies: true },
    ];
    const ids = (es: ListingEntry[]) => es.map((e) => `${e.runId}:${e.trust}`);
    const out: unknown[] = [listing.ids, ["run-a", "run-x"].map((id) => listing.has(id))];
    for (const p of picks) {
      out.push(ids(await listing.where(p)), await listing.models(p));
      for (const n of [0, 2, 10]) {
        const { entries, total } = await listing.newest(p, n);
        out.push(ids(entries), total);
      }
    }
    for (const id of ["run-c", "run-d", "run-x"]) out.push((await listing.get(id))?.trust);
    return out;
  }

  async function both(store: LedgerStore, cache: string) {
    const index = (await RunIndex.open(cache, store.uri))!;
    const indexed = await (await LedgerReader.open(store, trust(), { index })).listing();
    const inMemory = await (await LedgerReader.open(store, trust())).listing();
    return { index, indexed, inMemory };
  }

  it.each([
    "dir",
    "git",
  ] as const)("over a %s ledger answers every question as the same listing held in memory does, reading no record", async (kind) => {
    const { store, cache } = await ledger(kind);
    const { index, indexed, inMemory } = await both(store, cache);
    expect(indexed).toBeInstanceOf(IndexedListing);
    expect(inMemory).toBeInstanceOf(MapListing);
    const got = await answers(indexed);
    expect(got).toEqual(await answers(inMemory));
    expect(index.counts).toEqual({ hits: 5, verified: 0 });
    // What the answers hold, spelled out once.
    expect(got[0]).toEqual(["run-a", "run-b", "run-c", "run-d", "run-e"]);
    expect(await indexed.newest({ modelOrNone: "spam" }, 2)).toMatchObject({
      entries: [{ runId: "run-a" }, { runId: "run-e" }],
      total: 4,
    });
    expect((await indexed.where({ withCopies: true })).map((e) => e.runId)).toEqual(["run-e"]);
    expect(
      (await indexed.where({ model: "spam", commitPrefix: "aaaaaaa", original: true })).map((e) => e.runId),
    ).toEqual(["run-a"]);
  }, 60_000);

  it("a run read damaged now is answered as damaged, never as the verified row the index still holds", async () => {
    const { store, cache } = await ledger();
    // The manifest replaced by a folder: the record cannot be read, so no row is written for it.
    const manifestPath = join(store.uri.slice(4), "runs", "run-c", "manifest.json");
    const body = readFileSync(manifestPath);
    rmSync(manifestPath);
    mkdirSync(manifestPath);
    const { index, indexed, inMemory } = await both(store, cache);
    expect(indexed).toBeInstanceOf(IndexedListing);
    expect(index.counts.verified).toBe(1);
    expect(await answers(indexed)).toEqual(await answers(inMemory));
    expect((await indexed.get("run-c"))?.trust).toBe("damaged");
    expect((await indexed.newest({}, 1)).entries.map((e) => `${e.runId}:${e.trust}`)).toEqual([
      "run-c:damaged",
    ]);
    expect((await indexed.where({ model: "ham" })).map((e) => `${e.runId}:${e.trust}`)).toEqual([
      "run-c:damaged",
    ]);
    rmSync(manifestPath, { recursive: true });
    writeFileSync(manifestPath, body);
  }, 60_000);

  it("folder names SQLite orders otherwise (beyond U+FFFF) are listed, found and answered as in memory", async () => {
    const { store, cache } = await ledger();
    const runs = join(store.uri.slice(4), "runs");
    // Copies of a run under names no run id has: damaged, and never hidden.
    for (const name of ["run-\u{1F600}", "run-\uFF01"])
      cpSync(join(runs, "run-a"), join(runs, name), { recursive: true });
    await settle();
    await read(store, cache);
    const { indexed, inMemory } = await both(store, cache);
    expect(indexed).toBeInstanceOf(IndexedListing);
    expect(await answers(indexed)).toEqual(await answers(inMemory));
    for (const name of ["run-\u{1F600}", "run-\uFF01"]) {
      expect(indexed.has(name)).toBe(true);
      expect((await indexed.get(name))?.trust).toBe("damaged");
    }
  }, 60_000);

  it("one index shared by two trust policies: each keeps its own rows, neither listing loses a run", async () => {
    const { store, cache } = await ledger();
    const index = (await RunIndex.open(cache, store.uri))!;
    const mine = await (await LedgerReader.open(store, trust(), { index })).listing();
    expect(mine).toBeInstanceOf(IndexedListing);
    // Another policy lists through the same index: its verdicts (untrusted) are written beside these.
    const theirs = await (await LedgerReader.open(store, trust("other"), { index })).listing();
    expect((await theirs.where({})).map((e) => `${e.runId}:${e.trust}`)).toEqual(
      ["run-a", "run-b", "run-c", "run-d", "run-e"].map((id) => `${id}:untrusted`),
    );
    expect((await mine.where({})).map((e) => `${e.runId}:${e.trust}`)).toEqual(
      ["run-a", "run-b", "run-c", "run-d", "run-e"].map((id) => `${id}:verified`),
    );
    expect(index.counts.verified).toBe(5);
  }, 60_000);

  it("an answer the index changed under while it was read is not taken", async () => {
    const entry = (runId: string): ListingEntry => ({ runId, trust: "verified", model: "spam" });
    let version = 1;
    const rows: ListingRows = {
      version: () => version,
      *rows() {
        yield entry("run-a");
        version++; // another process commits here
      },
      ids: () => ["run-a"],
      models: () => [{ model: "spam", runId: "run-a" }],
      row: (id) => entry(id),
    };
    const listing = new IndexedListing(
      ["run-a", "run-b"],
      Uint8Array.of(1, 1),
      () => "dir:1",
      new Map(),
      rows,
      1,
      async () =>
        new MapListing(
          new Map([
            ["run-a", entry("run-a")],
            ["run-b", entry("run-b")],
          ]),
        ),
    );
    expect((await listing.where({ model: "spam" })).map((e) => e.runId)).toEqual(["run-a", "run-b"]);
  });

  it.each([
    "dir",
    "git",
  ] as const)("over a %s ledger, another process writing the index under it: the ledger is listed again, no run is lost", async (kind) => {
    const { store, cache } = await ledger(kind);
    const { indexed, inMemory } = await both(store, cache);
    expect(indexed).toBeInstanceOf(IndexedListing);
    // Another process drops two rows (as a command under another trust would replace them).
    const db = new DatabaseSync(runIndexPath(cache, store.uri));
    db.prepare("DELETE FROM runs WHERE run_id IN ('run-a', 'run-e')").run();
    db.close();
    expect(await answers(indexed)).toEqual(await answers(inMemory));
    expect((await indexed.where({ withCopies: true })).map((e) => e.runId)).toEqual(["run-e"]);
  }, 60_000);
});
