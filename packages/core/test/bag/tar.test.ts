import { createHash } from "node:crypto";
import { createWriteStream, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import * as tarStream from "tar-stream";
import { describe, expect, it } from "vitest";
import { createBag, diffBags, tarBag, validateBag } from "../../src/index.js";
import { tempDir, writeTree } from "../helpers.js";

const files = {
  "b/2.csv": "two\n",
  "a.csv": "one\n",
  "b/c/3.bin": Buffer.alloc(70_000, 3),
  "z.txt": "last",
};

async function bagFrom(order: string[], mtime: Date, umask: number): Promise<string> {
  const src = tempDir();
  const old = process.umask(umask);
  try {
    for (const name of order) writeTree(src, { [name]: files[name as keyof typeof files] });
  } finally {
    process.umask(old);
  }
  for (const name of order) utimesSync(join(src, name), mtime, mtime);
  const bag = join(tempDir(), "bag");
  await createBag(src, bag, { noDate: true, softwareAgent: "track-run" });
  return bag;
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("bag tar", () => {
  it("gives the same bytes for the same bag whatever disk order, mtimes and umask", async () => {
    const one = await bagFrom(["a.csv", "b/2.csv", "b/c/3.bin", "z.txt"], new Date("2001-02-03"), 0o022);
    const two = await bagFrom(["z.txt", "b/c/3.bin", "a.csv", "b/2.csv"], new Date("2024-05-06"), 0o077);
    for (const ext of ["tar", "tar.gz"]) {
      const t1 = join(tempDir(), `dataset.${ext}`);
      const t2 = join(tempDir(), `dataset.${ext}`);
      await tarBag(one, t1);
      await tarBag(two, t2);
      expect(sha(t1)).toBe(sha(t2));
    }
  });

  it("writes one top-level folder named after the archive, tag files first, fixed owner and mtime", async () => {
    const bag = await bagFrom(Object.keys(files), new Date(), 0o022);
    const out = join(tempDir(), "train-v1.tar");
    await tarBag(bag, out);
    const headers: tarStream.Header[] = [];
    const extract = tarStream.extract();
    const reading = (async () => {
      for await (const e of extract) {
        headers.push(e.header);
        e.resume();
      }
    })();
    await pipeline((await import("node:fs")).createReadStream(out), extract);
    await reading;
    expect(headers.map((h) => h.name)).toEqual([
      "train-v1/",
      "train-v1/bag-info.txt",
      "train-v1/bagit.txt",
      "train-v1/manifest-sha256.txt",
      "train-v1/tagmanifest-sha256.txt",
      "train-v1/data/",
      "train-v1/data/a.csv",
      "train-v1/data/b/",
      "train-v1/data/b/2.csv",
      "train-v1/data/b/c/",
      "train-v1/data/b/c/3.bin",
      "train-v1/data/z.txt",
    ]);
    for (const h of headers) {
      expect(h.uid).toBe(0);
      expect(h.gid).toBe(0);
      expect(h.mtime?.toISOString()).toBe("2000-01-01T00:00:00.000Z");
      expect(h.mode).toBe(h.type === "directory" ? 0o755 : 0o644);
    }
  });

  it("round-trips: create, tar, validate the tar as a stream, diff against the folder is empty", async () => {
    const bag = await bagFrom(Object.keys(files), new Date(), 0o022);
    for (const ext of ["tar", "tar.gz"]) {
      const out = join(tempDir(), `bag.${ext}`);
      await tarBag(bag, out);
      const report = await validateBag(out);
      expect(report.errors).toEqual([]);
      expect(report.digest).toBe((await validateBag(bag)).digest);
      expect((await diffBags(bag, out)).identical).toBe(true);
      expect((await diffBags(out, out)).identical).toBe(true);
    }
  });

  it("finds a corrupted payload byte inside a tar", async () => {
    const bag = await bagFrom(Object.keys(files), new Date(), 0o022);
    const out = join(tempDir(), "bag.tar");
    await tarBag(bag, out);
    const bytes = readFileSync(out);
    const at = bytes.indexOf(Buffer.from("one\n"));
    bytes[at] = "O".charCodeAt(0);
    writeFileSync(out, bytes);
    const r = await validateBag(out);
    expect(r.valid).toBe(false);
    expect(r.errors.map((e) => `${e.file}: ${e.message}`)).toEqual([
      "data/a.csv: sha256 checksum does not match manifest-sha256.txt",
    ]);
  });

  it("refuses tar entries that climb out of the bag or leave the top folder", async () => {
    const out = join(tempDir(), "evil.tar");
    const pack = tarStream.pack();
    const writing = pipeline(pack, createWriteStream(out));
    pack.entry({ name: "bag/bagit.txt" }, "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n");
    pack.entry({ name: "bag/manifest-sha256.txt" }, "");
    pack.entry({ name: "bag/data/../../etc/cron.d/x" }, "boom");
    pack.entry({ name: "other/data/y" }, "y");
    pack.entry({ name: "bag/data/link", type: "symlink", linkname: "/etc/passwd" });
    pack.finalize();
    await writing;
    const r = await validateBag(out);
    expect(r.valid).toBe(false);
    const text = r.errors.map((e) => `${e.file}: ${e.message}`).join("\n");
    expect(text).toMatch(/bag\/data\/\.\.\/\.\.\/etc\/cron\.d\/x: path climbs out of the bag/);
    expect(text).toMatch(/other\/data\/y: outside the single top-level folder "bag"/);
    expect(text).toMatch(/data\/link: is a symbolic link/);
  });

  it("refuses to archive an incomplete bag (exit 1) and a bad archive name (exit 2)", async () => {
    const bag = await bagFrom(Object.keys(files), new Date(), 0o022);
    await expect(tarBag(bag, join(tempDir(), "bag.zip"))).rejects.toThrow(
      /must end in \.tar, \.tar\.gz or \.tgz/,
    );
    writeFileSync(join(bag, "data/unlisted.txt"), "u");
    const err = await tarBag(bag, join(tempDir(), "bag.tar")).catch((e) => e);
    expect(err.exitCode).toBe(1);
    expect(err.details).toContain(
      "data/unlisted.txt: is in the payload but not listed in manifest-sha256.txt",
    );
  });
});
