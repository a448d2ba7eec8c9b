// Making bags: out of place (the source untouched), in place (as bagit-python does), and as a
// stream of files written one by one (the bagit-fs style writer).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Writable } from "node:stream";
import { fsInputError, fsOutputError, UsageError } from "../errors.js";
import { mkdirNoFollow, writeFileExclusive } from "../util/safe-fs.js";
import {
  type BagSummary,
  buildTagFiles,
  newBagInfo,
  type PayloadRows,
  tempSibling,
  writeFileAtomic,
} from "./build.js";
import { HashPool, type HashProgress } from "./hash.js";
import {
  backslashNames,
  backslashRefusal,
  normalizationTwins,
  percentNamesWarning,
  safePath,
} from "./paths.js";
import type { StatCache } from "./stat-cache.js";
import type { Algorithm, BagInfo } from "./tagfiles.js";
import { type FileTable, walkFiles } from "./walk.js";

export interface CreateOptions {
  algorithms?: Algorithm[];
  /** User metadata for bag-info.txt, in order. */
  info?: BagInfo;
  followSymlinks?: boolean;
  /** Recorded as Bag-Software-Agent. */
  softwareAgent?: string;
  /** Bagging-Date (default: now). */
  date?: Date;
  /** No Bagging-Date: the tag files then depend on the payload alone (the canonical bag of a data pin). */
  noDate?: boolean;
  threads?: number;
  onProgress?: (p: HashProgress) => void;
}

const DEFAULT_AGENT = "track-run";

function baggingDate(o: CreateOptions): { date?: Date } {
  return o.noDate ? {} : { date: o.date ?? new Date() };
}

function algorithmsOf(o: CreateOptions): Algorithm[] {
  const algs = o.algorithms && o.algorithms.length > 0 ? [...new Set(o.algorithms)] : ["sha256" as const];
  return algs;
}

/** Walks a source folder for bagging; refuses what cannot go into a bag, naming it. */
export function scanSource(
  source: string,
  label: string,
  followSymlinks: boolean,
  /** Top-level names left out (track-run's own .track-run folder when pinning a source tree). */
  ignore: readonly string[] = [],
  /** Told of each file as it is found (hashing can start before the walk ends). */
  onFile?: (files: FileTable, i: number) => void,
  /**
   * How the files' stat facts are taken: "serial" in the walk; "parallel" on two threads (a walk
   * that will read few files, e.g. a re-pin with a stat cache); "none" when every file is read
   * as it is found (its size then comes from the read: see walkFiles' noStat).
   */
  stat: "serial" | "parallel" | "none" = "serial",
): { files: FileTable; warnings: string[] } {
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch (e) {
    throw fsInputError(`${label} "${source}"`, e);
  }
  if (!st.isDirectory())
    throw new UsageError(
      "input-not-directory",
      `${label} "${source}" is not a folder; give the folder to bag`,
    );
  const walked = walkFiles(source, {
    followSymlinks,
    ...(ignore.length ? { ignore } : {}),
    ...(onFile ? { onFile } : {}),
    ...(stat === "parallel" ? { parallelStat: true } : stat === "none" ? { noStat: true } : {}),
  });
  if (walked.symlinks.length > 0) {
    throw new UsageError(
      "symlinks-refused",
      `${label} "${source}" holds ${walked.symlinks.length} symbolic link(s); a bag holds regular files: remove them or pass --follow-symlinks to bag their targets`,
      { details: walked.symlinks.slice(0, 20) },
    );
  }
  if (walked.specials.length > 0) {
    throw new UsageError(
      "special-files",
      `${label} "${source}" holds fifos, sockets or devices, which cannot be bagged`,
      {
        details: walked.specials.slice(0, 20),
      },
    );
  }
  if (walked.unreadable.length > 0) {
    throw new UsageError("unreadable", `${label} "${source}": some entries cannot be read`, {
      details: walked.unreadable.slice(0, 20).map((u) => `${u.rel}: ${u.code}`),
    });
  }
  const names = walked.files.rel;
  const backslashed = backslashNames(names);
  if (backslashed.length > 0)
    throw new UsageError("backslash-in-name", backslashRefusal(`${label} "${source}"`, backslashed.length), {
      details: backslashed.slice(0, 20),
    });
  const warnings = normalizationTwins(names).map(
    (g) =>
      `names that differ only by Unicode normalisation (one file on macOS): ${g.map((n) => JSON.stringify(n)).join(", ")}`,
  );
  const percent = percentNamesWarning(names);
  if (percent) warnings.push(percent);
  return { files: walked.files, warnings };
}

export interface PayloadHashOptions {
  /** The folder walked (as resolved: FileTable.root), which the files' paths are relative to. */
  root: string;
  cache?: StatCache;
  copyRoot?: string;
  threads?: number;
  onProgress?: (p: HashProgress) => void;
  statTakenAt: number;
  /** Told how many files were read (not found in the cache). */
  onHashed?: (n: number) => void;
}

/**
 * Hashing of a payload that starts while it is still being walked: `file` takes each walked file
 * (looked up in the stat cache, else queued for the workers), `finish` gives the digests of all
 * as rows ("data/<rel>", in walk order) and refreshes the cache. `abort` stops it when the walk fails.
 */
export function startPayloadHashing(algs: readonly Algorithm[], o: PayloadHashOptions) {
  /** Per walked file: its index in the pool, or -1 when its digests came from the stat cache. */
  const jobOf: number[] = [];
  const cached = new Map<number, Partial<Record<Algorithm, string>>>();
  const pool = new HashPool(algs, {
    base: o.root,
    ...(o.threads ? { threads: o.threads } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  return {
    file(t: FileTable, i: number): void {
      const hit = o.copyRoot ? undefined : o.cache?.lookup(t, i, algs);
      if (hit) {
        cached.set(i, hit);
        jobOf[i] = -1;
        return;
      }
      jobOf[i] = pool.add(t.readPath(i), t.size[i]!, o.copyRoot ? join(o.copyRoot, t.rel[i]!) : undefined);
    },
    abort(): Promise<void> {
      return pool.close();
    },
    async finish(files: FileTable): Promise<PayloadRows> {
      o.onHashed?.(pool.size);
      const results = await pool.finish();
      const changed: string[] = [];
      for (let i = 0; i < files.length; i++) {
        const j = jobOf[i]!;
        if (j < 0) continue;
        const n = results.bytes(j);
        if (n < 0) {
          const f = results.failure(j) ?? { code: "EIO", message: "not hashed" };
          // Read without a stat first (see walkFiles' noStat): the read saw its size change.
          if (f.code === "ECHANGED") {
            changed.push(files.rel[i]!);
            continue;
          }
          const err = Object.assign(new Error(f.message), { code: f.code });
          // A full or read-only disk fails the copy into the bag, not the read of the source.
          if (o.copyRoot && ["ENOSPC", "EDQUOT", "EROFS"].includes(String(f.code)))
            throw fsOutputError(`the bag's copy of "${files.rel[i]}"`, err);
          throw fsInputError(`"${files.abs(i)}"`, err);
        }
        // A file the walk took no stat of has the size read; any other must have read its stat size.
        if (files.size[i]! < 0) files.setSize(i, n);
        else if (n !== files.size[i]) changed.push(files.rel[i]!);
      }
      if (changed.length > 0) {
        throw new UsageError(
          "source-changed",
          "files changed size while being bagged; bag again when nothing writes to them",
          {
            details: changed.slice(0, 20),
          },
        );
      }
      const digest = (i: number, alg: Algorithm): string | undefined => {
        const j = jobOf[i]!;
        return j >= 0 ? results.digest(j, alg) : cached.get(i)?.[alg];
      };
      if (pool.size > 0)
        o.cache?.save(
          files,
          (i) => {
            const d: Partial<Record<Algorithm, string>> = {};
            for (const a of algs) d[a] = digest(i, a)!;
            return d;
          },
          o.statTakenAt,
        );
      return { count: files.length, path: (i) => `data/${files.rel[i]}`, digest };
    },
  };
}

/**
 * Hashes `files` (optionally copying each to `copyRoot/rel`), using and refreshing the stat cache
 * when one is given. Returns the digests as rows.
 */
export async function hashPayload(
  files: FileTable,
  algs: readonly Algorithm[],
  o: PayloadHashOptions,
): Promise<PayloadRows> {
  const hashing = startPayloadHashing(algs, o);
  for (let i = 0; i < files.length; i++) hashing.file(files, i);
  return hashing.finish(files);
}

/** Walks `source` and hashes its files while walking (copying each under `copyRoot` when given); then builds the tag files of a new bag. */
async function scanHashAndTag(
  source: string,
  options: CreateOptions,
  copyRoot?: string,
): Promise<{ tags: ReturnType<typeof buildTagFiles>; warnings: string[] }> {
  const algorithms = algorithmsOf(options);
  const hashing = startPayloadHashing(algorithms, {
    root: resolve(source),
    statTakenAt: Date.now(),
    ...(copyRoot ? { copyRoot } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  let scanned: ReturnType<typeof scanSource>;
  try {
    // Every file is read as it is found: no stat of its own (the read gives its size).
    scanned = scanSource(
      source,
      "source",
      Boolean(options.followSymlinks),
      [],
      (t, i) => hashing.file(t, i),
      "none",
    );
  } catch (e) {
    await hashing.abort();
    throw e;
  }
  const { files, warnings } = scanned;
  const payload = await hashing.finish(files);
  const info = newBagInfo(options.info ?? [], {
    softwareAgent: options.softwareAgent ?? DEFAULT_AGENT,
    ...baggingDate(options),
  });
  const tags = buildTagFiles({ payload, bytes: files.bytes(), algorithms, info });
  return { tags, warnings };
}

/** Hashes the payload (copying it under `copyRoot` when given) and builds the tag files of a new bag. */
async function hashAndTag(
  files: FileTable,
  options: CreateOptions,
  copyRoot?: string,
): Promise<ReturnType<typeof buildTagFiles>> {
  const algorithms = algorithmsOf(options);
  const payload = await hashPayload(files, algorithms, {
    root: files.root,
    statTakenAt: Date.now(),
    ...(copyRoot ? { copyRoot } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const info = newBagInfo(options.info ?? [], {
    softwareAgent: options.softwareAgent ?? DEFAULT_AGENT,
    ...baggingDate(options),
  });
  return buildTagFiles({ payload, bytes: files.bytes(), algorithms, info });
}

/** Bags `source` into the new folder `out`; the source is not touched. Nothing appears at `out` unless complete. */
export async function createBag(
  source: string,
  out: string,
  options: CreateOptions = {},
): Promise<BagSummary> {
  const src = resolve(source);
  const dest = resolve(out);
  if (fs.existsSync(dest))
    throw new UsageError("output-exists", `--out "${out}" already exists; choose a new path or remove it`);
  if (dest === src || dest.startsWith(`${src}/`)) {
    throw new UsageError(
      "output-inside-source",
      `--out "${out}" is inside the source "${source}"; put the bag elsewhere or use --in-place`,
    );
  }
  try {
    fs.accessSync(dirname(dest), fs.constants.W_OK);
  } catch (e) {
    throw fsInputError(`the folder of --out "${out}"`, e);
  }
  const { files, warnings } = scanSource(src, "source", Boolean(options.followSymlinks));
  // A new folder of our own (mkdir fails on anything already there, a link included); inside it,
  // folders are made without following links and files are created exclusively.
  const tmp = tempSibling(dest);
  fs.mkdirSync(tmp);
  try {
    fs.mkdirSync(join(tmp, "data"));
    const dirs = new Set<string>();
    for (const rel of files.rel) {
      const i = rel.lastIndexOf("/");
      if (i > 0) dirs.add(rel.slice(0, i));
    }
    for (const d of [...dirs].sort()) mkdirNoFollow(join(tmp, "data"), d);
    const { files: tags, summary } = await hashAndTag(files, options, join(tmp, "data"));
    for (const [name, body] of tags) writeFileExclusive(join(tmp, name), body);
    fs.renameSync(tmp, dest);
    return { ...summary, path: dest, warnings };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Bags `dir` where it is: its content moves under data/ and the tag files are written beside it. */
export async function createBagInPlace(dir: string, options: CreateOptions = {}): Promise<BagSummary> {
  const root = resolve(dir);
  if (fs.existsSync(join(root, "bagit.txt"))) {
    throw new UsageError(
      "already-a-bag",
      `"${dir}" is already a bag (it has bagit.txt); validate it with \`track-run bag validate\``,
    );
  }
  // No stat cache here: moving files under data/ changes their ctime, so entries would never match.
  const {
    tags: { files: tags, summary },
    warnings,
  } = await scanHashAndTag(root, options);
  // Move every top-level entry under a temporary folder, then name it data/.
  const tmp = join(root, `.track-run-data-${process.pid}`);
  fs.mkdirSync(tmp);
  const moved: string[] = [];
  try {
    for (const name of fs.readdirSync(root)) {
      if (name === tmp.split("/").pop()) continue;
      fs.renameSync(join(root, name), join(tmp, name));
      moved.push(name);
    }
    fs.renameSync(tmp, join(root, "data"));
  } catch (e) {
    for (const name of moved) fs.renameSync(join(tmp, name), join(root, name));
    fs.rmdirSync(tmp);
    throw e;
  }
  // bagit.txt last: until it exists the folder does not claim to be a bag.
  for (const [name, body] of tags) if (name !== "bagit.txt") writeFileAtomic(join(root, name), body);
  writeFileAtomic(join(root, "bagit.txt"), tags.get("bagit.txt")!);
  return { ...summary, path: root, warnings };
}

/**
 * Writes a bag file by file, hashing while writing, as bagit-fs did:
 *   const w = await BagWriter.open("out/bag"); w.createWriteStream("a/b.csv").end(data); await w.finalize();
 * Paths are relative to data/. Nothing appears at the bag's path until finalize() completes.
 */
export class BagWriter {
  private readonly tmp: string;
  private readonly pending = new Set<Promise<void>>();
  private readonly payload = new Map<string, Partial<Record<Algorithm, string>>>();
  private bytes = 0;
  private finalized = false;

  private constructor(
    private readonly dest: string,
    private readonly algs: Algorithm[],
    private readonly options: CreateOptions,
  ) {
    this.tmp = tempSibling(dest);
    fs.mkdirSync(dirname(this.tmp), { recursive: true });
    fs.mkdirSync(this.tmp);
    fs.mkdirSync(join(this.tmp, "data"));
  }

  static async open(path: string, options: CreateOptions = {}): Promise<BagWriter> {
    const dest = resolve(path);
    if (fs.existsSync(dest))
      throw new UsageError("output-exists", `"${path}" already exists; choose a new path or remove it`);
    return new BagWriter(dest, algorithmsOf(options), options);
  }

  createWriteStream(relPath: string): Writable {
    if (this.finalized) throw new Error("BagWriter: createWriteStream after finalize");
    const check = safePath(relPath);
    if (!check.ok)
      throw new UsageError("unsafe-path", `"${relPath}" cannot be a payload path: ${check.reason}`);
    const key = `data/${check.path}`;
    if (this.payload.has(key))
      throw new UsageError("duplicate-path", `"${relPath}" was already written to this bag`);
    this.payload.set(key, {});
    const target = join(this.tmp, key);
    mkdirNoFollow(join(this.tmp, "data"), dirname(check.path));
    const hashes = this.algs.map((a) => createHash(a));
    const file = fs.createWriteStream(target, { flags: "wx", mode: 0o644 });
    let size = 0;
    let resolveDone!: () => void;
    let rejectDone!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    this.pending.add(done);
    done.catch(() => undefined);
    const stream = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        for (const h of hashes) h.update(chunk);
        size += chunk.length;
        file.write(chunk, cb);
      },
      final: (cb) => {
        file.end(() => {
          const d: Partial<Record<Algorithm, string>> = {};
          this.algs.forEach((a, i) => {
            d[a] = hashes[i]!.digest("hex");
          });
          this.payload.set(key, d);
          this.bytes += size;
          resolveDone();
          cb();
        });
      },
      destroy: (err, cb) => {
        file.destroy();
        if (err) rejectDone(err);
        cb(err);
      },
    });
    file.on("error", (e) => stream.destroy(e));
    return stream;
  }

  /** Waits for every stream, writes the tag files and moves the bag into place. */
  async finalize(): Promise<BagSummary> {
    this.finalized = true;
    try {
      await Promise.all(this.pending);
      const sorted = new Map([...this.payload.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const info = newBagInfo(this.options.info ?? [], {
        softwareAgent: this.options.softwareAgent ?? DEFAULT_AGENT,
        ...baggingDate(this.options),
      });
      const { files, summary } = buildTagFiles({
        payload: sorted,
        bytes: this.bytes,
        algorithms: this.algs,
        info,
      });
      for (const [name, body] of files) writeFileExclusive(join(this.tmp, name), body);
      fs.renameSync(this.tmp, this.dest);
      return { ...summary, path: this.dest, warnings: [] };
    } catch (e) {
      fs.rmSync(this.tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Abandons the bag: nothing is left behind. */
  abort(): void {
    this.finalized = true;
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}
