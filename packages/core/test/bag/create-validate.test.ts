import { createHash } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BagWriter,
  createBag,
  createBagInPlace,
  diffBags,
  pinData,
  TrackRunError,
  validateBag,
} from "../../src/index.js";
import { failure, tempDir, writeTree } from "../helpers.js";

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

function sourceTree(): string {
  const src = tempDir();
  writeTree(src, {
    "train.csv": "a,b\n1,2\n",
    "nested/deep/test.csv": "a,b\n3,4\n",
    "notes.txt": "hello",
  });
  return src;
}

describe("bag create", () => {
  it("bags out of place with RFC 8493 tag files, leaving the source untouched", async () => {
    const src = sourceTree();
    const before = readdirSync(src, { recursive: true }).sort();
    const mtime = statSync(join(src, "train.csv")).mtimeMs;
    const out = join(tempDir(), "bag");
    const s = await createBag(src, out, {
      info: [
        ["Source-Organization", "Example Lab"],
        ["External-Identifier", "ds-1"],
      ],
      softwareAgent: "track-run test",
      date: new Date("2026-03-04T05:06:07Z"),
    });
    expect(readdirSync(src, { recursive: true }).sort()).toEqual(before);
    expect(statSync(join(src, "train.csv")).mtimeMs).toBe(mtime);

    expect(readFileSync(join(out, "bagit.txt"), "utf8")).toBe(
      "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    );
    expect(readFileSync(join(out, "bag-info.txt"), "utf8")).toBe(
      "Source-Organization: Example Lab\nExternal-Identifier: ds-1\nBagging-Date: 2026-03-04\nBag-Software-Agent: track-run test\nPayload-Oxum: 21.3\n",
    );
    expect(readFileSync(join(out, "manifest-sha256.txt"), "utf8")).toBe(
      [
        `${sha256("a,b\n3,4\n")}  data/nested/deep/test.csv`,
        `${sha256("hello")}  data/notes.txt`,
        `${sha256("a,b\n1,2\n")}  data/train.csv`,
        "",
      ].join("\n"),
    );
    const tagmanifest = readFileSync(join(out, "tagmanifest-sha256.txt"));
    expect(s.digest).toBe(`sha256:${sha256(tagmanifest)}`);
    expect(tagmanifest.toString()).toContain(
      `${sha256(readFileSync(join(out, "bag-info.txt")))}  bag-info.txt`,
    );
    expect(s).toMatchObject({ payloadOxum: "21.3", files: 3, bytes: 21, algorithms: ["sha256"] });
    expect((await validateBag(out)).valid).toBe(true);
  });

  it("computes several algorithms in one read", async () => {
    const out = join(tempDir(), "bag");
    await createBag(sourceTree(), out, { algorithms: ["sha256", "sha512", "md5"] });
    for (const alg of ["sha256", "sha512", "md5"]) {
      expect(existsSync(join(out, `manifest-${alg}.txt`))).toBe(true);
      expect(existsSync(join(out, `tagmanifest-${alg}.txt`))).toBe(true);
    }
    const line = readFileSync(join(out, "manifest-sha512.txt"), "utf8")
      .split("\n")
      .find((l) => l.endsWith("data/notes.txt"))!;
    expect(line.split("  ")[0]).toBe(createHash("sha512").update("hello").digest("hex"));
    const report = await validateBag(out);
    expect(report.valid).toBe(true);
    expect(report.algorithms.sort()).toEqual(["md5", "sha256", "sha512"]);
  });

  it("percent-encodes CR, LF and % in manifest paths and reads them back", async () => {
    const src = tempDir();
    writeTree(src, {
      "line\nbreak.txt": "1",
      "carriage\rreturn.txt": "2",
      "100%.txt": "3",
      "%0A literal.txt": "4",
    });
    const out = join(tempDir(), "bag");
    await createBag(src, out);
    const manifest = readFileSync(join(out, "manifest-sha256.txt"), "utf8");
    expect(manifest).toContain("data/line%0Abreak.txt");
    expect(manifest).toContain("data/carriage%0Dreturn.txt");
    expect(manifest).toContain("data/100%25.txt");
    expect(manifest).toContain("data/%250A literal.txt");
    expect(manifest.split("\n")).toHaveLength(5);
    const report = await validateBag(out);
    expect(report.errors).toEqual([]);
  });

  it("refuses symbolic links by default, naming them, and follows them on request", async () => {
    const src = sourceTree();
    const elsewhere = tempDir();
    writeFileSync(join(elsewhere, "target.bin"), "outside");
    symlinkSync(join(elsewhere, "target.bin"), join(src, "link.bin"));
    const out = join(tempDir(), "bag");
    const err = await createBag(src, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrackRunError);
    expect((err as TrackRunError).exitCode).toBe(2);
    expect((err as TrackRunError).message).toMatch(/symbolic link.*--follow-symlinks/);
    expect((err as TrackRunError).details).toEqual(["link.bin"]);
    expect(existsSync(out)).toBe(false);
    const s = await createBag(src, out, { followSymlinks: true });
    expect(s.files).toBe(4);
    expect(readFileSync(join(out, "data/link.bin"), "utf8")).toBe("outside");
  });

  it("warns about names that differ only by Unicode normalisation", async () => {
    const src = tempDir();
    writeTree(src, { "Nu\u0301n\u0303ez.txt": "nfd", "N\u00fa\u00f1ez.txt": "nfc" });
    const s = await createBag(src, join(tempDir(), "bag"));
    expect(s.warnings.join("\n")).toMatch(/Unicode normalisation/);
  });

  it("refuses a missing source and an existing output with exit-2 errors naming them", async () => {
    const err1 = await failure(createBag("/nonexistent/src", join(tempDir(), "bag")));
    expect(err1.message).toBe('source "/nonexistent/src" does not exist');
    const out = tempDir();
    const err2 = await failure(createBag(sourceTree(), out));
    expect(err2.message).toMatch(/already exists/);
    expect(err2.exitCode).toBe(2);
  });

  it("bags in place, moving the content under data/", async () => {
    const src = sourceTree();
    const s = await createBagInPlace(src);
    expect(readdirSync(src).sort()).toEqual([
      "bag-info.txt",
      "bagit.txt",
      "data",
      "manifest-sha256.txt",
      "tagmanifest-sha256.txt",
    ]);
    expect(readFileSync(join(src, "data/nested/deep/test.csv"), "utf8")).toBe("a,b\n3,4\n");
    expect(s.files).toBe(3);
    expect((await validateBag(src)).valid).toBe(true);
    await expect(createBagInPlace(src)).rejects.toThrow(/already a bag/);
  });

  it("writes a bag file by file through streams, hashing while writing", async () => {
    const out = join(tempDir(), "stream-bag");
    const w = await BagWriter.open(out, { algorithms: ["sha256", "sha512"] });
    const a = w.createWriteStream("images/cat.bin");
    a.write(Buffer.alloc(3 * 1024 * 1024, 7));
    a.end(Buffer.from("tail"));
    w.createWriteStream("labels.csv").end("cat,1\n");
    expect(existsSync(out)).toBe(false);
    expect(() => w.createWriteStream("../escape.txt")).toThrow(/climbs out/);
    const s = await w.finalize();
    expect(s.files).toBe(2);
    expect(s.bytes).toBe(3 * 1024 * 1024 + 4 + 6);
    const report = await validateBag(out);
    expect(report.errors).toEqual([]);
    const expected = createHash("sha256")
      .update(Buffer.alloc(3 * 1024 * 1024, 7))
      .update("tail")
      .digest("hex");
    expect(readFileSync(join(out, "manifest-sha256.txt"), "utf8")).toContain(
      `${expected}  data/images/cat.bin`,
    );
  });

  it("hashes on worker threads with the same digests as inline", async () => {
    const src = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`d${i % 7}/f${i}.txt`] = `content ${i}\n`.repeat(i);
    writeTree(src, files);
    const threaded = await createBag(src, join(tempDir(), "a"), { threads: 2, noDate: true });
    const inline = await createBag(src, join(tempDir(), "b"), { threads: 1, noDate: true });
    expect(threaded.digest).toBe(inline.digest);
    expect(threaded.files).toBe(300);
  });
});

describe("bag validate", () => {
  it("reports every problem at once with file, expected and actual", async () => {
    const bag = join(tempDir(), "bag");
    await createBag(sourceTree(), bag);
    writeFileSync(join(bag, "data/train.csv"), "a,b\n9,9\n"); // same size, different bytes
    appendFileSync(join(bag, "data/notes.txt"), "!"); // different size
    unlinkSync(join(bag, "data/nested/deep/test.csv"));
    writeFileSync(join(bag, "data/extra.bin"), "x");
    const r = await validateBag(bag);
    expect(r.valid).toBe(false);
    const byFile = (f: string) => r.errors.filter((e) => e.file === f).map((e) => e.message);
    expect(byFile("data/train.csv")).toEqual(["sha256 checksum does not match manifest-sha256.txt"]);
    expect(r.errors.find((e) => e.file === "data/train.csv")).toMatchObject({
      expected: sha256("a,b\n1,2\n"),
      actual: sha256("a,b\n9,9\n"),
    });
    expect(byFile("data/notes.txt")).toEqual(["sha256 checksum does not match manifest-sha256.txt"]);
    expect(byFile("data/nested/deep/test.csv")).toEqual([
      "listed in manifest-sha256.txt but missing from the bag",
    ]);
    expect(byFile("data/extra.bin")[0]).toMatch(/not listed in manifest-sha256.txt/);
    expect(r.errors.find((e) => e.message.startsWith("Payload-Oxum"))).toMatchObject({
      expected: "21.3",
      actual: "15.3",
    });
  });

  it("--fast checks Payload-Oxum only and --completeness-only reads no checksum", async () => {
    const bag = join(tempDir(), "bag");
    await createBag(sourceTree(), bag);
    writeFileSync(join(bag, "data/train.csv"), "a,b\n9,9\n"); // same size: only a full validation sees it
    expect((await validateBag(bag, { mode: "fast" })).valid).toBe(true);
    expect((await validateBag(bag, { mode: "completeness" })).valid).toBe(true);
    expect((await validateBag(bag)).valid).toBe(false);
    appendFileSync(join(bag, "data/notes.txt"), "grown");
    const fast = await validateBag(bag, { mode: "fast" });
    expect(fast.valid).toBe(false);
    expect(fast.errors.map((e) => e.message)).toEqual(["Payload-Oxum does not match the payload"]);
  });

  it("flags a symbolic link planted in the payload", async () => {
    const bag = join(tempDir(), "bag");
    await createBag(sourceTree(), bag);
    symlinkSync("/etc/passwd", join(bag, "data/passwd"));
    const r = await validateBag(bag);
    expect(r.errors.map((e) => `${e.file}: ${e.message}`)).toContain(
      "data/passwd: is a symbolic link or special file; a bag holds regular files only",
    );
  });

  it("names an unreadable input as a usage error", async () => {
    await expect(validateBag("/nonexistent/bag")).rejects.toThrow('bag "/nonexistent/bag" does not exist');
    const f = join(tempDir(), "plain.txt");
    writeFileSync(f, "not a tar");
    await expect(validateBag(f)).rejects.toThrow(/not a \.tar or \.tar\.gz/);
  });

  it("says a plain folder is not a bag", async () => {
    const r = await validateBag(sourceTree());
    expect(r.valid).toBe(false);
    expect(r.errors[0]!.message).toMatch(/bagit\.txt is missing/);
  });

  it("does not validate payload files that cannot be read as valid", async () => {
    const bag = join(tempDir(), "bag");
    await createBag(sourceTree(), bag);
    chmodSync(join(bag, "data/notes.txt"), 0o000);
    const r = await validateBag(bag);
    chmodSync(join(bag, "data/notes.txt"), 0o644);
    // root reads anything; elsewhere the file is reported unreadable. Either way the bag stays consistent.
    if (process.getuid?.() !== 0) expect(r.errors.map((e) => e.file)).toContain("data/notes.txt");
    else expect(r.valid).toBe(true);
  });
});

describe("bag validate, hashing while walking", () => {
  function manyFiles(): string {
    const src = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 400; i++) files[`d${i % 9}/f${i}.txt`] = `content ${i}\n`.repeat(1 + (i % 13));
    writeTree(src, files);
    return src;
  }

  it("reports every problem of a bag too large to hash inline, as the inline check does", async () => {
    const src = manyFiles();
    const bag = join(tempDir(), "bag");
    await createBag(src, bag, { algorithms: ["sha256", "md5"] });
    expect((await validateBag(bag)).valid).toBe(true);
    writeFileSync(join(bag, "data/d1/f10.txt"), "content 1X\n".repeat(11)); // same size
    appendFileSync(join(bag, "data/d2/f200.txt"), "!");
    unlinkSync(join(bag, "data/d3/f30.txt"));
    writeFileSync(join(bag, "data/d4/extra.bin"), "x");
    const r = await validateBag(bag);
    const problems = r.errors.map((e) => `${e.file}: ${e.message}`).sort();
    expect(problems).toEqual(
      [
        "bag-info.txt: Payload-Oxum does not match the payload",
        "data/d1/f10.txt: md5 checksum does not match manifest-md5.txt",
        "data/d1/f10.txt: sha256 checksum does not match manifest-sha256.txt",
        "data/d2/f200.txt: md5 checksum does not match manifest-md5.txt",
        "data/d2/f200.txt: sha256 checksum does not match manifest-sha256.txt",
        "data/d3/f30.txt: listed in manifest-md5.txt but missing from the bag",
        "data/d3/f30.txt: listed in manifest-sha256.txt but missing from the bag",
        "data/d4/extra.bin: is in the payload but not listed in manifest-md5.txt",
        "data/d4/extra.bin: is in the payload but not listed in manifest-sha256.txt",
      ].sort(),
    );
    expect(
      r.errors.find((e) => e.file === "data/d1/f10.txt" && e.message.startsWith("sha256")),
    ).toMatchObject({
      expected: sha256("content 10\n".repeat(11)),
      actual: sha256("content 1X\n".repeat(11)),
    });
    // A fast check starts no hashing: no checksum problem, the size change still seen.
    const fast = (await validateBag(bag, { mode: "fast" })).errors.map((e) => e.message);
    expect(fast).toContain("Payload-Oxum does not match the payload");
    expect(fast.filter((m) => m.includes("checksum"))).toEqual([]);
  });

  it("bags in place and pins without a cache while walking, with the digests of an inline run", async () => {
    const src = manyFiles();
    const inline = await createBag(src, join(tempDir(), "inline"), { threads: 1, noDate: true });
    const pinned = await pinData(src);
    const inPlace = await createBagInPlace(src, { noDate: true });
    expect(inPlace.digest).toBe(inline.digest);
    expect(pinned.files).toBe(400);
    expect((await pinData(src)).digest).toBe(inline.digest);
    expect((await validateBag(src)).valid).toBe(true);
  });
});

describe("bag create and validate of large files read without a stat", () => {
  it("shares files of 20 MiB between threads and gets the sizes and digests of a serial run", async () => {
    const src = tempDir();
    const big = 20 * 1024 * 1024;
    for (let i = 0; i < 5; i++) writeFileSync(join(src, `big-${i}.bin`), Buffer.alloc(big + i, 97 + i));
    writeTree(src, { "small/a.txt": "a", "small/b.txt": "bb" });
    const serial = await createBag(src, join(tempDir(), "serial"), { threads: 1, noDate: true });
    expect(serial.payloadOxum).toBe(`${5 * big + 10 + 3}.7`);
    const pinned = await pinData(src);
    expect(pinned).toMatchObject({ digest: serial.digest, payloadOxum: serial.payloadOxum, files: 7 });
    const inPlace = await createBagInPlace(src, { noDate: true, threads: 2 });
    expect(inPlace).toMatchObject({ digest: serial.digest, payloadOxum: serial.payloadOxum });
    const manifest = readFileSync(join(src, "manifest-sha256.txt"), "utf8");
    expect(manifest).toContain(`${sha256(Buffer.alloc(big + 3, 100))}  data/big-3.bin\n`);
    expect(await validateBag(src)).toMatchObject({ valid: true, bytes: 5 * big + 13, files: 7 });
    // A file grown by one byte: its checksum and the Payload-Oxum are both reported.
    appendFileSync(join(src, "data/big-4.bin"), "x");
    const r = await validateBag(src);
    expect(r.errors.map((e) => `${e.file ?? ""}: ${e.message}`).sort()).toEqual([
      "bag-info.txt: Payload-Oxum does not match the payload",
      "data/big-4.bin: sha256 checksum does not match manifest-sha256.txt",
    ]);
    expect(r.bytes).toBe(5 * big + 14);
  });
});

describe("bag diff", () => {
  it("lists added, removed and changed files and changed metadata, from manifests alone", async () => {
    const src = sourceTree();
    const a = join(tempDir(), "a");
    await createBag(src, a, { info: [["Version", "1"]], noDate: true });
    writeFileSync(join(src, "train.csv"), "a,b\n1,2\n5,6\n");
    unlinkSync(join(src, "notes.txt"));
    writeTree(src, { "new/val.csv": "vv" });
    const b = join(tempDir(), "b");
    await createBag(src, b, { info: [["Version", "2"]], noDate: true });
    const d = await diffBags(a, b);
    expect(d.added).toEqual(["data/new/val.csv"]);
    expect(d.removed).toEqual(["data/notes.txt"]);
    expect(d.changed.map((c) => c.path)).toEqual(["data/train.csv"]);
    expect(d.unchanged).toBe(1);
    expect(d.metadata.map((m) => m.label)).toEqual(["Payload-Oxum", "Version"]);
    expect(d.identical).toBe(false);
    // Changing a payload byte without updating the manifest does not show: diff reads manifests, not data.
    writeFileSync(join(a, "data/train.csv"), "tampered");
    expect((await diffBags(a, a)).identical).toBe(true);
  });
});

describe("pin data", () => {
  it("pins a plain folder by content: same data, same digest, wherever it lives", async () => {
    const one = sourceTree();
    const two = sourceTree();
    utimesSync(join(two, "notes.txt"), new Date("2001-01-01"), new Date("2001-01-01"));
    const p1 = await pinData(one);
    const p2 = await pinData(two);
    expect(p1.digest).toBe(p2.digest);
    expect(p1).toMatchObject({ source: "folder", files: 3, bytes: 21, payloadOxum: "21.3" });
    writeFileSync(join(two, "notes.txt"), "hellO");
    expect((await pinData(two)).digest).not.toBe(p1.digest);
  });

  it("--out writes the canonical bag whose digest is the pin", async () => {
    const src = sourceTree();
    const out = join(tempDir(), "canonical");
    const p = await pinData(src, { out });
    expect(p.bag).toBe(out);
    expect((await pinData(out)).digest).toBe(p.digest);
    expect((await pinData(src)).digest).toBe(p.digest);
  });

  it("re-pins unchanged data from the stat cache and re-hashes what changed", async () => {
    const src = sourceTree();
    const cacheDir = tempDir();
    const old = new Date(Date.now() - 60_000);
    for (const f of ["train.csv", "notes.txt", "nested/deep/test.csv"]) utimesSync(join(src, f), old, old);
    const first = await pinData(src, { cacheDir });
    expect(first.hashed).toBe(3);
    const second = await pinData(src, { cacheDir });
    expect(second.hashed).toBe(0);
    expect(second.digest).toBe(first.digest);
    writeFileSync(join(src, "notes.txt"), "HELLO");
    const third = await pinData(src, { cacheDir });
    expect(third.hashed).toBe(1);
    expect(third.digest).not.toBe(first.digest);
    expect((await pinData(src)).digest).toBe(third.digest);
  });

  it("re-pins a tree of many files (stat-ed on two threads) from the cache, and sees each change", async () => {
    const src = tempDir();
    const tree: Record<string, string> = {};
    for (let i = 0; i < 1500; i++) tree[`part-${i % 3}/f-${String(i).padStart(4, "0")}.txt`] = `row ${i}\n`;
    writeTree(src, tree);
    const old = new Date(Date.now() - 60_000);
    for (const rel of Object.keys(tree)) utimesSync(join(src, rel), old, old);
    const cacheDir = tempDir();
    const first = await pinData(src, { cacheDir });
    expect(first).toMatchObject({ hashed: 1500, files: 1500 });
    const second = await pinData(src, { cacheDir });
    expect(second).toMatchObject({ hashed: 0, digest: first.digest });
    // The same size and an old mtime, but not the one cached: re-hashed, in whichever thread's block it is.
    writeFileSync(join(src, "part-2/f-1499.txt"), "ROW 1499\n");
    const older = new Date(Date.now() - 120_000);
    utimesSync(join(src, "part-2/f-1499.txt"), older, older);
    const third = await pinData(src, { cacheDir });
    expect(third.hashed).toBe(1);
    expect(third.digest).not.toBe(first.digest);
    expect((await pinData(src)).digest).toBe(third.digest);

    // A bag of it: re-pinned from the cache, and a changed file (same size) refused.
    await createBagInPlace(src);
    const bagPin = await pinData(src, { cacheDir });
    expect(bagPin.files).toBe(1500);
    const onePayload = join(src, "data/part-1/f-0001.txt");
    const stamp = new Date(Date.now() - 180_000);
    for (const rel of Object.keys(tree)) utimesSync(join(src, "data", rel), stamp, stamp);
    await pinData(src, { cacheDir });
    expect((await pinData(src, { cacheDir })).hashed).toBe(0);
    writeFileSync(onePayload, "ROW 1\n");
    utimesSync(onePayload, stamp, stamp);
    const err = await failure(pinData(src, { cacheDir }));
    expect(err.details).toContain(
      "data/part-1/f-0001.txt: sha256 checksum does not match manifest-sha256.txt",
    );
  });

  it("re-hashes everything when the stat cache's table is damaged or of an older format", async () => {
    const src = sourceTree();
    const cacheDir = tempDir();
    const old = new Date(Date.now() - 60_000);
    for (const f of ["train.csv", "notes.txt", "nested/deep/test.csv"]) utimesSync(join(src, f), old, old);
    const first = await pinData(src, { cacheDir });
    const statDir = join(cacheDir, "stat");
    const table = readdirSync(statDir).find((n) => n.endsWith(".json") && !n.endsWith(".sig.json"))!;
    const signature = table.replace(/\.json$/, ".sig.json");
    // The table read back (the tree's signature file set aside): nothing re-hashed.
    unlinkSync(join(statDir, signature));
    expect(await pinData(src, { cacheDir })).toMatchObject({ hashed: 0, digest: first.digest });
    const text = readFileSync(join(statDir, table), "utf8");
    for (const damaged of [
      text.slice(0, text.length - 40),
      text.replace(/"format":3/, '"format":2'),
      JSON.stringify({ format: 2, root: src, writtenAt: Date.now(), entries: {} }),
    ]) {
      writeFileSync(join(statDir, table), damaged);
      rmSync(join(statDir, signature), { force: true });
      expect(await pinData(src, { cacheDir })).toMatchObject({ hashed: 3, digest: first.digest });
    }
  });

  it("keeps a folder's payload manifest beside its signature, and never takes one kept for another", async () => {
    const src = sourceTree();
    const cacheDir = tempDir();
    const old = new Date(Date.now() - 60_000);
    for (const f of ["train.csv", "notes.txt", "nested/deep/test.csv"]) utimesSync(join(src, f), old, old);
    const first = await pinData(src, { cacheDir });
    const again = await pinData(src, { cacheDir });
    expect(again).toMatchObject({
      hashed: 0,
      manifest: first.manifest,
      payloadIdentity: first.payloadIdentity,
    });
    const statDir = join(cacheDir, "stat");
    const kept = readdirSync(statDir).find((n) => n.endsWith(".sig.txt"))!;
    expect(readFileSync(join(statDir, kept), "utf8")).toContain(first.manifest!);
    // Kept under another signature (or gone): the manifest is made again from the files' digests.
    writeFileSync(join(statDir, kept), `${"0".repeat(64)}\n${"f".repeat(64)}  data/planted.txt\n`);
    expect((await pinData(src, { cacheDir })).manifest).toBe(first.manifest);
    unlinkSync(join(statDir, kept));
    expect((await pinData(src, { cacheDir })).manifest).toBe(first.manifest);
  });

  it("does not trust files modified within the racy window of the cache", async () => {
    const src = sourceTree(); // just written: mtimes are "now"
    const cacheDir = tempDir();
    await pinData(src, { cacheDir });
    expect((await pinData(src, { cacheDir })).hashed).toBe(3);
  });

  it("validates a bag in full before pinning it, and refuses an invalid one with exit 1", async () => {
    const bag = join(tempDir(), "bag");
    const made = await createBag(sourceTree(), bag);
    const p = await pinData(bag);
    expect(p).toMatchObject({ source: "bag", digest: made.digest, files: 3 });
    writeFileSync(join(bag, "data/train.csv"), "a,b\n9,9\n");
    const err = await failure(pinData(bag));
    expect(err.exitCode).toBe(1);
    expect(err.details).toContain("data/train.csv: sha256 checksum does not match manifest-sha256.txt");
  });
});
