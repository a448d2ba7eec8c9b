// Serializing a bag to tar or tar.gz, byte for byte the same whatever the disk order, mtimes,
// owners or umask: one top-level folder named after the archive, tag files first (so a streaming
// reader knows the algorithms before the payload), then the payload sorted by path; every entry
// with a fixed mtime, owner 0:0 and mode 0644 (files) or 0755 (folders).
import * as fs from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import * as tarStream from "tar-stream";
import { CheckFailedError, fsOutputError, UsageError } from "../errors.js";
import { tempSibling } from "./build.js";
import { checkBag } from "./check.js";
import { locateBag, readDirContents } from "./read.js";

/** 2000-01-01T00:00:00Z: the mtime of every entry. */
export const TAR_MTIME = new Date(946_684_800_000);

export interface TarResult {
  path: string;
  top: string;
  entries: number;
  bytes: number;
  gzip: boolean;
}

function archiveTop(out: string): { top: string; gzip: boolean } {
  const name = basename(out);
  const m = /^(.+?)(\.tar\.gz|\.tgz|\.tar)$/.exec(name);
  if (!m) throw new UsageError("bad-archive-name", `"${out}" must end in .tar, .tar.gz or .tgz`);
  return { top: m[1]!, gzip: m[2] !== ".tar" };
}

function pathOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function tarBag(bag: string, out: string): Promise<TarResult> {
  const loc = locateBag(bag);
  if (loc.kind !== "dir")
    throw new UsageError("not-a-folder", `bag "${bag}" is already an archive; give the bag folder`);
  const { top, gzip } = archiveTop(out);
  const dest = resolve(out);
  if (fs.existsSync(dest))
    throw new UsageError("output-exists", `"${out}" already exists; choose a new path or remove it`);
  const contents = readDirContents(loc.path);
  const report = await checkBag(contents, "completeness");
  if (!report.valid) {
    throw new CheckFailedError("bag-invalid", `bag "${bag}" is not complete, so it is not archived`, {
      details: report.errors.map((e) => (e.file ? `${e.file}: ${e.message}` : e.message)),
    });
  }

  const tagNames = [...contents.tagFiles.keys()].sort(pathOrder);
  const payloadNames = [...contents.payload.keys()].sort(pathOrder);
  const dirs = new Set<string>(["data"]);
  for (const p of payloadNames) {
    for (let d = dirname(p); d !== "." && d !== "data"; d = dirname(d)) dirs.add(d);
  }
  for (const t of tagNames) for (let d = dirname(t); d !== "."; d = dirname(d)) dirs.add(d);

  const pack = tarStream.pack();
  const tmp = tempSibling(dest);
  const sink = fs.createWriteStream(tmp, { flags: "wx" });
  const writing = gzip ? pipeline(pack, createGzip({ level: 6 }), sink) : pipeline(pack, sink);
  // A sink that fails at once (no such folder, a full disk) rejects before it is awaited below.
  let writeError: unknown;
  writing.catch((e: unknown) => {
    writeError = e;
    pack.destroy();
  });
  const base = { mtime: TAR_MTIME, uid: 0, gid: 0, uname: "", gname: "" };
  let entries = 0;
  let bytes = 0;
  const addDir = (rel: string) =>
    new Promise<void>((res, rej) => {
      const name = rel === "" ? `${top}/` : `${top}/${rel}/`;
      pack.entry({ ...base, name, type: "directory", mode: 0o755 }, (err) => (err ? rej(err) : res()));
      entries++;
    });
  const addFile = async (rel: string, abs: string, size: number) => {
    const entry = pack.entry({ ...base, name: `${top}/${rel}`, type: "file", mode: 0o644, size });
    await pipeline(fs.createReadStream(abs, { highWaterMark: 1024 * 1024 }), entry);
    entries++;
    bytes += size;
  };
  try {
    await addDir("");
    const sortedDirs = [...dirs].sort(pathOrder);
    for (const d of sortedDirs.filter((d) => !d.startsWith("data"))) await addDir(d);
    for (const t of tagNames) await addFile(t, join(loc.path, t), contents.tagFiles.get(t)!.length);
    const payloadDirs = sortedDirs.filter((d) => d === "data" || d.startsWith("data/"));
    // Folders and files interleaved in path order, each folder before what it holds.
    const items = [
      ...payloadDirs.map((d) => ({ rel: `${d}/`, dir: true })),
      ...payloadNames.map((p) => ({ rel: p, dir: false })),
    ].sort((a, b) => pathOrder(a.rel, b.rel));
    for (const it of items) {
      if (it.dir) await addDir(it.rel.slice(0, -1));
      else await addFile(it.rel, join(loc.path, it.rel), contents.payload.get(it.rel)!);
    }
    pack.finalize();
    await writing;
    fs.renameSync(tmp, dest);
  } catch (e) {
    pack.destroy();
    await writing.catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    throw writeError ? fsOutputError(`archive "${out}"`, writeError) : e;
  }
  return { path: dest, top, entries, bytes, gzip };
}
