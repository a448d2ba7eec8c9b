import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHoleyBag, fetchBag, parseRemoteList, validateBag } from "../../src/index.js";
import { tempDir } from "../helpers.js";

/** Deterministic pseudo-random bytes. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const blobs: Record<string, Buffer> = {
  "/a.bin": bytes(300_000, 1),
  "/b.bin": bytes(1_000_000, 2),
  "/c.txt": Buffer.from("small file\n"),
  "/wrong.bin": bytes(5000, 3),
};
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * A flaky server: every file's first two GETs send part of the body and then destroy the socket;
 * Range requests are honoured (206), so a client can resume.
 */
let server: Server;
let base: string;
const hits = new Map<string, number>();
const ranges: string[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    const blob = blobs[path];
    if (!blob) {
      res.writeHead(404).end();
      return;
    }
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range) {
      start = Number(range[1]);
      ranges.push(`${path}:${start}`);
    }
    const body = blob.subarray(start);
    res.writeHead(range ? 206 : 200, {
      "content-length": body.length,
      "accept-ranges": "bytes",
      ...(range ? { "content-range": `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
    });
    if (n <= 2 && body.length > 1000) {
      res.write(body.subarray(0, Math.floor(body.length / 3)), () => res.destroy());
    } else res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("holey bags", () => {
  it("fetches from a server that drops connections mid-file, resumes with Range, and ends valid", async () => {
    const list = [
      {
        url: `${base}/a.bin`,
        length: blobs["/a.bin"]!.length,
        path: "x/a.bin",
        sha256: sha(blobs["/a.bin"]!),
      },
      { url: `${base}/b.bin`, length: blobs["/b.bin"]!.length, path: "b.bin", sha256: sha(blobs["/b.bin"]!) },
      { url: `${base}/c.txt`, length: blobs["/c.txt"]!.length, path: "c.txt", sha256: sha(blobs["/c.txt"]!) },
    ];
    const bag = join(tempDir(), "holey");
    const made = createHoleyBag(parseRemoteList(JSON.stringify(list), "list.json"), bag);
    expect(made.payloadOxum).toBe(`${300_000 + 1_000_000 + 11}.3`);
    expect(readFileSync(join(bag, "fetch.txt"), "utf8")).toBe(
      [
        `${base}/b.bin 1000000 data/b.bin`,
        `${base}/c.txt 11 data/c.txt`,
        `${base}/a.bin 300000 data/x/a.bin`,
        "",
      ].join("\n"),
    );
    const before = await validateBag(bag);
    expect(before.valid).toBe(false);
    expect(before.errors[0]!.message).toMatch(/not fetched yet: run `track-run bag fetch`/);

    const report = await fetchBag(bag, { concurrency: 2, retries: 4, backoffMs: 10 });
    expect(report.failed).toEqual([]);
    expect(report.fetched).toEqual(["data/b.bin", "data/c.txt", "data/x/a.bin"]);
    expect(ranges.some((r) => r.startsWith("/b.bin:") && r !== "/b.bin:0")).toBe(true);
    expect(readFileSync(join(bag, "data/b.bin")).equals(blobs["/b.bin"]!)).toBe(true);
    const after = await validateBag(bag);
    expect(after.errors).toEqual([]);
    expect(after.digest).toBe(made.digest);
    const again = await fetchBag(bag);
    expect(again.present).toHaveLength(3);
  });

  it("never lands a file whose checksum is wrong, and reports it", async () => {
    const wrong = blobs["/wrong.bin"]!;
    const list = [{ url: `${base}/wrong.bin`, length: wrong.length, path: "w.bin", sha256: "0".repeat(64) }];
    const bag = join(tempDir(), "holey");
    createHoleyBag(parseRemoteList(JSON.stringify(list), "list.json"), bag);
    const report = await fetchBag(bag, { retries: 3, backoffMs: 1 });
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]!.error).toMatch(/sha256 .* does not match the manifest's 0000/);
    expect(readdirSync(join(bag, "data"))).toEqual([]);
  });

  it("fetches file:// URLs", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "local.bin"), "local bytes");
    const list = [
      {
        url: pathToFileURL(join(dir, "local.bin")).href,
        length: 11,
        path: "l.bin",
        sha256: sha(Buffer.from("local bytes")),
      },
    ];
    const bag = join(tempDir(), "holey");
    createHoleyBag(parseRemoteList(JSON.stringify(list), "list.json"), bag);
    expect((await fetchBag(bag)).fetched).toEqual(["data/l.bin"]);
    expect((await validateBag(bag)).valid).toBe(true);
  });

  it("takes a list's paths as bag paths (data/points.csv) or relative to data/ (labels.csv), never doubling data/", async () => {
    const body = blobs["/c.txt"]!;
    const file = (path: string) => ({ url: `${base}/c.txt`, length: body.length, path, sha256: sha(body) });
    const list = [file("data/points.csv"), file("labels.csv"), file("data/data/nested.csv")];
    const bag = join(tempDir(), "holey");
    createHoleyBag(parseRemoteList(JSON.stringify(list), "list.json"), bag);
    const paths = (name: string) =>
      readFileSync(join(bag, name), "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(" ").pop());
    expect(paths("fetch.txt")).toEqual(["data/data/nested.csv", "data/labels.csv", "data/points.csv"]);
    expect(paths("manifest-sha256.txt")).toEqual([
      "data/data/nested.csv",
      "data/labels.csv",
      "data/points.csv",
    ]);
    const fetched = await fetchBag(bag, { retries: 0 });
    expect(fetched.failed).toEqual([]);
    expect(readFileSync(join(bag, "data", "points.csv"))).toEqual(body);
    expect((await validateBag(bag)).valid).toBe(true);
    // The same file by both spellings is one entry listed twice.
    expect(() => parseRemoteList(JSON.stringify([file("data/a.csv"), file("a.csv")]), "list.json")).toThrow(
      /1 problem/,
    );
  });

  it("refuses a remote list with unsafe or malformed entries, naming each", () => {
    const bad = [
      { url: "not a url", length: 1, path: "a", sha256: "0".repeat(64) },
      { url: `${base}/a.bin`, length: -1, path: "../escape", sha256: "xyz" },
    ];
    let err: { message: string; details: string[] } | undefined;
    try {
      parseRemoteList(JSON.stringify(bad), "remote.json");
    } catch (e) {
      err = e as { message: string; details: string[] };
    }
    expect(err?.message).toBe("remote.json has 4 problem(s)");
    expect(err?.details).toEqual([
      "[0].url: must be an absolute URL",
      "[1].length: must be a whole number of bytes",
      "[1].sha256: must be 64 hex digits",
      "[1].path: path climbs out of the bag (..)",
    ]);
    expect(existsSync("../escape")).toBe(false);
  });
});
