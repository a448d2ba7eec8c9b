// Writes never follow links: a link planted in a bag (at a .part file, at a folder on the way)
// never makes fetch, materialize or create write or make folders outside the bag.
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BagWriter,
  createBag,
  createHoleyBag,
  fetchBag,
  materializeBag,
  parseRemoteList,
  validateBag,
} from "../../src/index.js";
import {
  assertNoSymlinkBetween,
  isInside,
  mkdirNoFollow,
  openAppendNoFollow,
  replaceFileAtomic,
  resolveInside,
  writeFileExclusive,
} from "../../src/util/safe-fs.js";
import { failure, holeyBagOf, tempDir } from "../helpers.js";

const BODY = "1\n2\n";
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** /plain answers 200 with the whole body, whatever the Range; /range honours Range with 206. */
let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (req.url === "/range" && range) {
      const body = BODY.slice(Number(range[1]));
      res.writeHead(206, { "content-length": body.length, "content-range": `bytes ${range[1]}-3/4` });
      res.end(body);
      return;
    }
    res.writeHead(200, { "content-length": BODY.length }).end(BODY);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A holey bag at dir/bag whose payload is `paths` (relative to data/), each with BODY at `url`. */
function holeyBag(dir: string, url: string, paths: string[] = ["rows.csv"]): string {
  const list = paths.map((path) => ({ url, length: BODY.length, path, sha256: sha(BODY) }));
  const bag = join(dir, "bag");
  createHoleyBag(parseRemoteList(JSON.stringify(list), "list"), bag);
  return bag;
}

describe("bag fetch never writes through a planted link", () => {
  it.each([
    ["a file: URL", () => pathToFileURL(sourceFile()).href, "precious\n"],
    ["an http server that ignores Range", () => `${base}/plain`, "1"],
    ["an http server that resumes with Range", () => `${base}/range`, "1"],
  ])("a data/<file>.part link to a file outside is refused (%s); the outside file is unchanged", async (_, url, content) => {
    const dir = tempDir();
    const outside = join(dir, "outside.txt");
    writeFileSync(outside, content);
    const bag = holeyBag(dir, url());
    symlinkSync(outside, join(bag, "data", "rows.csv.part"));
    const r = await fetchBag(bag, { retries: 0, backoffMs: 1 });
    expect(readFileSync(outside, "utf8")).toBe(content);
    expect(r.fetched).toEqual([]);
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]!.error).toMatch(/symbolic link/);
    expect(lstatSync(join(bag, "data", "rows.csv.part")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(bag, "data", "rows.csv"))).toBe(false);
  });

  it("a folder under data/ that is a link makes no folder outside (mkdir -p is never run through it)", async () => {
    const dir = tempDir();
    const outside = join(dir, "outside");
    mkdirSync(outside);
    const bag = holeyBag(dir, `${base}/plain`, ["sub/deep/rows.csv"]);
    symlinkSync(outside, join(bag, "data", "sub"));
    const r = await fetchBag(bag, { retries: 0, backoffMs: 1 });
    expect(readdirSync(outside)).toEqual([]);
    expect(r.failed.map((f) => f.path)).toEqual(["data/sub/deep/rows.csv"]);
    expect(r.failed[0]!.error).toMatch(/symbolic link/);
  });

  it("data/ itself a link: nothing is made or written outside", async () => {
    const dir = tempDir();
    const outside = join(dir, "outside");
    mkdirSync(outside);
    const bag = holeyBag(dir, `${base}/plain`, ["sub/rows.csv", "top.csv"]);
    rmSync(join(bag, "data"), { recursive: true });
    symlinkSync(outside, join(bag, "data"));
    const r = await fetchBag(bag, { retries: 0, backoffMs: 1 });
    expect(readdirSync(outside)).toEqual([]);
    expect(r.fetched).toEqual([]);
    expect(r.failed).toHaveLength(2);
  });

  it("a plain holey bag still fetches, resumes a real partial file, and validates", async () => {
    const dir = tempDir();
    const bag = holeyBag(dir, `${base}/range`, ["a/b/rows.csv"]);
    mkdirSync(join(bag, "data", "a", "b"), { recursive: true });
    writeFileSync(join(bag, "data", "a", "b", "rows.csv.part"), "1\n");
    const r = await fetchBag(bag, { retries: 0, backoffMs: 1 });
    expect(r.failed).toEqual([]);
    expect(r.fetched).toEqual(["data/a/b/rows.csv"]);
    expect(readFileSync(join(bag, "data", "a", "b", "rows.csv"), "utf8")).toBe(BODY);
    expect((await validateBag(bag)).valid).toBe(true);
  });
});

/** A fresh file holding BODY, for file: URLs. */
function sourceFile(): string {
  const f = join(tempDir(), "rows.csv");
  writeFileSync(f, BODY);
  return f;
}

describe("materialize never fetches through a link in the holey bag", () => {
  it("refuses a holey bag holding a link (naming it); the file outside is unchanged", async () => {
    const dir = tempDir();
    const outside = join(dir, "outside.txt");
    writeFileSync(outside, "precious\n");
    holeyBagOf(pathToFileURL(sourceFile()).href, BODY, join(dir, "bag"));
    symlinkSync(outside, join(dir, "bag", "data", "rows.csv.part"));
    const e = await failure(materializeBag(join(dir, "bag"), { cacheDir: join(dir, "cache") }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/symbolic link .*rows\.csv\.part/);
    expect(readFileSync(outside, "utf8")).toBe("precious\n");
    expect(readdirSync(join(dir, "cache", "bags"))).toEqual([]);
  });
});

describe("bag create writes only new files of its own", () => {
  it("out of place and stream by stream, nested folders are made and the bag is valid", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "src", "a", "b"), { recursive: true });
    writeFileSync(join(dir, "src", "a", "b", "x.csv"), "x");
    expect((await createBag(join(dir, "src"), join(dir, "out"))).files).toBe(1);
    expect((await validateBag(join(dir, "out"))).valid).toBe(true);
    const w = await BagWriter.open(join(dir, "streamed"));
    w.createWriteStream("c/d/y.csv").end("y");
    await w.finalize();
    expect(readFileSync(join(dir, "streamed", "data", "c", "d", "y.csv"), "utf8")).toBe("y");
    expect((await validateBag(join(dir, "streamed"))).valid).toBe(true);
  });
});

describe("safe-fs helpers", () => {
  it("mkdirNoFollow makes folders one by one and refuses a link or a file on the way, making nothing outside", () => {
    const root = tempDir();
    const outside = tempDir();
    expect(mkdirNoFollow(root, "a/b/c")).toBe(join(root, "a", "b", "c"));
    expect(mkdirNoFollow(root, "a/b/c")).toBe(join(root, "a", "b", "c"));
    symlinkSync(outside, join(root, "link"));
    expect(() => mkdirNoFollow(root, "link/x/y")).toThrow(/symbolic link/);
    symlinkSync(outside, join(root, "a", "b", "c", "l2"));
    expect(() => mkdirNoFollow(root, "a/b/c/l2/z")).toThrow(/symbolic link/);
    expect(readdirSync(outside)).toEqual([]);
    writeFileSync(join(root, "file"), "");
    expect(() => mkdirNoFollow(root, "file/x")).toThrow(/not a folder/);
    expect(() => mkdirNoFollow(root, "../escape")).toThrow(/outside/);
    expect(() => mkdirNoFollow(root, "/tmp/x")).toThrow(/relative/);
    expect(existsSync(join(root, "..", "escape"))).toBe(false);
  });

  it("assertNoSymlinkBetween checks every existing component, the path itself included", () => {
    const root = tempDir();
    const outside = tempDir();
    mkdirSync(join(root, "a"));
    expect(() => assertNoSymlinkBetween(root, join(root, "a", "missing", "x"))).not.toThrow();
    symlinkSync(outside, join(root, "a", "l"));
    expect(() => assertNoSymlinkBetween(root, join(root, "a", "l", "x"))).toThrow(/symbolic link/);
    expect(() => assertNoSymlinkBetween(root, join(root, "a", "l"))).toThrow(/symbolic link/);
    expect(() => assertNoSymlinkBetween(root, join(root, ".."))).toThrow(/outside/);
  });

  it("writeFileExclusive refuses a link, dangling or not, and anything already there", () => {
    const root = tempDir();
    const outside = join(tempDir(), "target");
    symlinkSync(outside, join(root, "dangling"));
    expect(() => writeFileExclusive(join(root, "dangling"), "x")).toThrow(/EEXIST/);
    expect(existsSync(outside)).toBe(false);
    writeFileSync(outside, "precious");
    expect(() => writeFileExclusive(join(root, "dangling"), "x")).toThrow(/EEXIST/);
    expect(readFileSync(outside, "utf8")).toBe("precious");
    writeFileExclusive(join(root, "new"), "fresh");
    expect(readFileSync(join(root, "new"), "utf8")).toBe("fresh");
    expect(() => writeFileExclusive(join(root, "new"), "again")).toThrow(/EEXIST/);
  });

  it("openAppendNoFollow refuses a link; replaceFileAtomic replaces a link, never writing through it", () => {
    const root = tempDir();
    const outside = join(tempDir(), "target");
    writeFileSync(outside, "precious");
    symlinkSync(outside, join(root, "l"));
    expect(() => openAppendNoFollow(join(root, "l"))).toThrow(/ELOOP/);
    replaceFileAtomic(join(root, "l"), "mine");
    expect(readFileSync(outside, "utf8")).toBe("precious");
    expect(lstatSync(join(root, "l")).isFile()).toBe(true);
    expect(readFileSync(join(root, "l"), "utf8")).toBe("mine");
    expect(readdirSync(root)).toEqual(["l"]);
  });

  it("containment is by path.relative and real paths, never by string prefix", () => {
    expect(isInside("/a/b", "/a/b")).toBe(true);
    expect(isInside("/a/b", "/a/b/c")).toBe(true);
    expect(isInside("/a/b", "/a/b/..c")).toBe(true);
    expect(isInside("/a/b", "/a/bc")).toBe(false);
    expect(isInside("/a/b", "/a")).toBe(false);
    const root = tempDir();
    const outside = tempDir();
    writeFileSync(join(outside, "secret"), "s");
    symlinkSync(join(outside, "secret"), join(root, "l"));
    expect(resolveInside(root, "l")).toEqual({
      ok: false,
      reason: "a symbolic link leads outside the folder",
    });
    expect(resolveInside(root, "../x").ok).toBe(false);
    expect(resolveInside(root, "/etc/hostname").ok).toBe(false);
    writeFileSync(join(root, "f"), "f");
    expect(resolveInside(root, "f")).toEqual({ ok: true, path: join(root, "f") });
  });
});
