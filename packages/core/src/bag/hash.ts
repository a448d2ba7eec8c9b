// Streaming file hashing on worker threads: one per core but one, the main thread hashing too once
// the caller waits for the results (each worker is a whole V8 heap more of memory). A file is read once, in chunks into one
// reused buffer (never whole), and every requested algorithm is updated from the same bytes; with
// `copyTo` the same chunks are written to a new file, so an out-of-place bag is copied and hashed
// in one pass. Small jobs run inline: starting workers costs more than hashing a few files.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type Algorithm, DIGEST_HEX_LENGTH } from "./tagfiles.js";

export interface HashJob {
  /** Absolute path of the file to read. */
  path: string;
  /** Size from stat, used to balance work and to end a small file's read early; the result says what was read. */
  size: number;
  /** Write the bytes read to this new file too (created exclusively). */
  copyTo?: string;
}

export type HashOutcome =
  | { ok: true; bytes: number; digests: Partial<Record<Algorithm, string>> }
  | { ok: false; code: string; message: string };

export interface HashProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

const CHUNK = 1024 * 1024;

/**
 * Hashes one file. Written without closures over module imports so that its source can also run
 * inside a worker (see workerSource): every dependency comes in as a parameter.
 */
function hashOne(
  fsMod: typeof fs,
  cryptoMod: typeof crypto,
  buf: Buffer,
  path: string,
  algs: readonly string[],
  copyTo: string | undefined,
  /**
   * The size the walk saw; -1 when the walk took no stat facts (then the file is opened without
   * following a link or waiting on a fifo, and refused unless a regular file of unchanged size).
   */
  size: number,
): HashOutcome {
  let fd = -1;
  let out = -1;
  const unstated = size < 0;
  let expected = size;
  try {
    if (unstated) {
      const c = fsMod.constants;
      fd = fsMod.openSync(path, c.O_RDONLY | c.O_NOFOLLOW | c.O_NONBLOCK);
      const st = fsMod.fstatSync(fd);
      if (!st.isFile())
        return {
          ok: false,
          code: "ENOTREG",
          message: `${path} is no longer a regular file (it changed since its folder was read)`,
        };
      expected = st.size;
    } else fd = fsMod.openSync(path, "r");
    if (copyTo) out = fsMod.openSync(copyTo, "wx", 0o644);
    let n = fsMod.readSync(fd, buf, 0, buf.length, null);
    if (n < buf.length) {
      // Whole file in the first chunk: one-shot hashing is much faster for small files. A read of a
      // regular file that gives less than asked has reached its end; when that is the size the walk
      // saw, no second read is needed to be sure (any other count reads on until a read gives 0).
      const first = buf.subarray(0, n);
      const rest = n === 0 || n === expected ? 0 : fsMod.readSync(fd, buf, n, buf.length - n, null);
      if (rest === 0) {
        if (unstated && n !== expected) return changedWhileRead(path, expected, n);
        const digests: Record<string, string> = {};
        for (const a of algs) digests[a] = cryptoMod.hash(a, first, "hex");
        if (out >= 0) fsMod.writeSync(out, first);
        return { ok: true, bytes: n, digests };
      }
      n += rest;
    }
    const hashes = algs.map((a) => cryptoMod.createHash(a));
    let bytes = 0;
    while (n > 0) {
      const chunk = buf.subarray(0, n);
      for (const h of hashes) h.update(chunk);
      if (out >= 0) fsMod.writeSync(out, chunk);
      bytes += n;
      n = fsMod.readSync(fd, buf, 0, buf.length, null);
    }
    if (unstated && bytes !== expected) return changedWhileRead(path, expected, bytes);
    const digests: Record<string, string> = {};
    algs.forEach((a, i) => {
      digests[a] = hashes[i]!.digest("hex");
    });
    return { ok: true, bytes, digests };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, code: err.code ?? "EIO", message: err.message };
  } finally {
    if (fd >= 0) fsMod.closeSync(fd);
    if (out >= 0) fsMod.closeSync(out);
  }
}

/** The outcome of a file whose size changed while it was read (see hashOne). */
function changedWhileRead(path: string, size: number, bytes: number): HashOutcome {
  return {
    ok: false,
    code: "ECHANGED",
    message: `${path} changed size while being read (${size} bytes when opened, ${bytes} read)`,
  };
}

let workerCode: string | undefined;
function workerSource(): string {
  // Results travel back compactly: one string of every digest in job and algorithm order, the
  // bytes read per job (-1 for a failure) and the failures apart; no object per file. A batch of
  // files of unknown size ("split") ends early once it has read a batch's worth of bytes: the
  // rest comes back unread, for the pool to share out.
  workerCode ??= `
const fs = require("node:fs");
const crypto = require("node:crypto");
const { parentPort } = require("node:worker_threads");
const changedWhileRead = ${changedWhileRead.toString()};
const hashOne = ${hashOne.toString()};
const buf = Buffer.allocUnsafe(${CHUNK});
parentPort.on("message", (m) => {
  let hex = "";
  const bytes = new Array(m.paths.length);
  const errors = [];
  let read = 0;
  for (let k = 0; k < m.paths.length; k++) {
    const p = m.paths[k];
    const path = m.base === undefined || p.charCodeAt(0) === 47 ? p : m.base + "/" + p;
    const r = hashOne(fs, crypto, buf, path, m.algs, m.copyTo ? m.copyTo[k] : undefined, m.sizes[k]);
    if (r.ok) {
      for (const a of m.algs) hex += r.digests[a];
      bytes[k] = r.bytes;
      read += r.bytes;
    } else {
      bytes[k] = -1;
      errors.push([k, r.code, r.message]);
    }
    if (m.split && read >= ${BATCH_BYTES} && k + 1 < m.paths.length) {
      bytes.length = k + 1;
      break;
    }
  }
  parentPort.postMessage({ id: m.id, hex, bytes, errors });
});`;
  return workerCode;
}

/** Below this much work, hash inline rather than start workers. */
const INLINE_MAX_FILES = 64;
const INLINE_MAX_BYTES = 8 * 1024 * 1024;
/** A batch closes at this many files or bytes, to amortise messaging for small files. */
const BATCH_FILES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;
/** Files of unknown size left for the end of a pool are stat-ed for hints up to this many (see hintSizes). */
const HINT_MAX_FILES = 1024;

export interface HashOptions {
  threads?: number;
  /**
   * Paths given to `add` that do not start with "/" are relative to this folder: the pool then
   * keeps the caller's strings and builds each full path only to open the file.
   */
  base?: string;
  onProgress?: (p: HashProgress) => void;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

/**
 * Every result of a pool, kept compactly (no object per file): per batch one string of every
 * digest in job and algorithm order, per job the bytes read (-1 for a failure) and where its
 * digests start in its batch's string; failures apart.
 */
export class HashResults {
  /** Per job: bytes read, -1 for a failure. */
  private readonly read: number[] = [];
  /** Per job: the offset of its digests in its batch's string. */
  private readonly at: number[] = [];
  /** Per job: its batch. */
  private readonly batchOf: number[] = [];
  private readonly hex: string[] = [];
  private readonly failures = new Map<number, { code: string; message: string }>();
  private readonly stride: number;
  private readonly offsets: Partial<Record<Algorithm, number>> = {};

  constructor(readonly algs: readonly Algorithm[]) {
    let o = 0;
    for (const a of algs) {
      this.offsets[a] = o;
      o += DIGEST_HEX_LENGTH[a];
    }
    this.stride = o;
  }

  /** Records batch `id` (jobs `start`…, in order): one digest string, the bytes per job, the failures by index in the batch. */
  setBatch(
    id: number,
    start: number,
    hex: string,
    bytes: readonly number[],
    errors: ReadonlyArray<[number, string, string]>,
  ): void {
    // Batches end in any order: the columns grow without holes (a holey array could turn into a
    // dictionary), the slots of jobs not done yet filled later.
    while (this.hex.length < id) this.hex.push("");
    this.hex[id] = hex;
    while (this.read.length < start + bytes.length) {
      this.read.push(-1);
      this.at.push(0);
      this.batchOf.push(0);
    }
    let at = 0;
    for (let k = 0; k < bytes.length; k++) {
      const n = bytes[k]!;
      this.read[start + k] = n;
      this.batchOf[start + k] = id;
      this.at[start + k] = at;
      if (n >= 0) at += this.stride;
    }
    for (const [k, code, message] of errors) this.failures.set(start + k, { code, message });
  }

  /** Bytes read from job `i`, or -1 when it failed. */
  bytes(i: number): number {
    return this.read[i]!;
  }

  /** Why job `i` failed, or undefined when it did not. */
  failure(i: number): { code: string; message: string } | undefined {
    return this.read[i]! < 0 ? this.failures.get(i) : undefined;
  }

  /** Job `i`'s digest by `alg` (hex); undefined when it failed or `alg` was not asked for. */
  digest(i: number, alg: Algorithm): string | undefined {
    const o = this.offsets[alg];
    if (o === undefined || this.read[i]! < 0) return undefined;
    const start = this.at[i]! + o;
    return this.hex[this.batchOf[i]!]!.slice(start, start + DIGEST_HEX_LENGTH[alg]);
  }

  /** Job `i`'s result as one object (for callers with few files). */
  outcome(i: number): HashOutcome {
    const n = this.read[i]!;
    if (n < 0) {
      const f = this.failures.get(i) ?? { code: "EIO", message: "not hashed" };
      return { ok: false, code: f.code, message: f.message };
    }
    const digests: Partial<Record<Algorithm, string>> = {};
    for (const a of this.algs) digests[a] = this.digest(i, a)!;
    return { ok: true, bytes: n, digests };
  }
}

/**
 * Hashes files as they are added, so that a walk and the hashing overlap: jobs are batched in
 * order and handed to worker threads (started once there is enough work to pay for them) while
 * the caller goes on finding files. `finish` gives every result, by the index `add` returned.
 * Jobs are kept as columns (paths, sizes), not as an object each.
 */
export class HashPool {
  private readonly paths: string[] = [];
  private readonly sizes: number[] = [];
  private copyTo: Array<string | undefined> | undefined;
  private readonly results: HashResults;
  private readonly batches: number[] = [];
  private readonly progress: HashProgress = { filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  private readonly threads: number;
  private slots: Slot[] | undefined;
  private nextBatch = 0;
  private batchStart = 0;
  private batchBytes = 0;
  private finishing = false;
  private failure: unknown;
  private settle: (() => void) | undefined;
  private totalsKnown = false;
  private mainBuffer: Buffer | undefined;
  /** The main thread found no batch to take (more may come back unread from a split batch). */
  private mainIdle = false;

  constructor(
    private readonly algs: readonly Algorithm[],
    private readonly options: HashOptions = {},
  ) {
    this.threads = Math.max(1, options.threads ?? availableParallelism());
    this.results = new HashResults(algs);
  }

  /** Jobs queued so far. */
  get size(): number {
    return this.paths.length;
  }

  /** Announces the totals for progress reports when they are known in advance. */
  expect(files: number, bytes: number): void {
    this.progress.filesTotal = files;
    this.progress.bytesTotal = bytes;
    this.totalsKnown = true;
  }

  /**
   * Queues one file (`size` from stat, -1 when the walk took no stat: see hashOne; `copyTo` a new
   * file to write its bytes to as well); its result will be at this index.
   */
  add(path: string, size: number, copyTo?: string): number {
    const i = this.paths.length;
    this.paths.push(path);
    this.sizes.push(size);
    if (copyTo !== undefined) {
      this.copyTo ??= [];
      this.copyTo[i] = copyTo;
    }
    if (!this.totalsKnown) {
      this.progress.filesTotal++;
      if (size > 0) this.progress.bytesTotal += size;
    }
    if (size > 0) this.batchBytes += size;
    if (i + 1 - this.batchStart >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) this.closeBatch();
    return i;
  }

  /**
   * Files of unknown size (walked without a stat) that no thread has taken yet, when they are few:
   * stat-ed for their sizes as hints, and batched again by them, so that a few large files are
   * shared out from the start and a few small ones are hashed here without a worker. The reads
   * still check what they read (the hints are not their expected sizes). Returns the bytes hinted.
   */
  private hintSizes(): number {
    const from = this.nextBatch < this.batchCount ? this.batches[2 * this.nextBatch]! : this.batchStart;
    const count = this.paths.length - from;
    if (count === 0 || count > HINT_MAX_FILES) return 0;
    const hints: number[] = [];
    let unknown = false;
    for (let i = from; i < this.paths.length; i++) {
      let hint = this.sizes[i]!;
      if (hint < 0) {
        unknown = true;
        try {
          hint = fs.lstatSync(this.fullPath(i)).size;
        } catch {
          hint = 0; // the read will say why
        }
      }
      hints.push(hint);
    }
    if (!unknown) return 0;
    this.batches.length = 2 * this.nextBatch;
    let start = from;
    let bytes = 0;
    let hinted = 0;
    for (let i = from; i < this.paths.length; i++) {
      const hint = hints[i - from]!;
      if (this.sizes[i]! < 0) hinted += hint;
      if (i > start && (i - start >= BATCH_FILES || bytes + hint > BATCH_BYTES)) {
        this.batches.push(start, i);
        start = i;
        bytes = 0;
      }
      bytes += hint;
    }
    this.batches.push(start, this.paths.length);
    this.batchStart = this.paths.length;
    this.batchBytes = 0;
    return hinted;
  }

  private closeBatch(): void {
    if (this.batchStart === this.paths.length) return;
    // Batch b covers jobs batches[2b] to batches[2b+1].
    this.batches.push(this.batchStart, this.paths.length);
    this.batchStart = this.paths.length;
    this.batchBytes = 0;
    if (
      !this.slots &&
      this.threads > 1 &&
      (this.paths.length > INLINE_MAX_FILES || this.progress.bytesTotal > INLINE_MAX_BYTES)
    )
      this.start();
    this.dispatch();
  }

  private get batchCount(): number {
    return this.batches.length / 2;
  }

  private start(): void {
    const source = workerSource();
    this.slots = Array.from({ length: this.threads - 1 }, () => {
      const slot: Slot = {
        // A worker keeps one read buffer and a batch's results: a small young generation will do.
        worker: new Worker(source, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } }),
        inFlight: 0,
      };
      slot.worker.on(
        "message",
        (m: { id: number; hex: string; bytes: number[]; errors: Array<[number, string, string]> }) => {
          slot.inFlight--;
          this.receive(m.id, m.hex, m.bytes, m.errors);
          this.dispatch();
        },
      );
      slot.worker.on("error", (e) => this.fail(e));
      // Until someone waits for the results, the workers do not keep the process alive.
      if (!this.finishing) slot.worker.unref();
      return slot;
    });
  }

  private dispatch(): void {
    if (this.slots) {
      // Two batches in flight per worker hide the messaging round trip, and keep a worker busy while
      // the main thread, hashing a batch of its own, cannot hand out the next one.
      for (const slot of this.slots) {
        while (slot.inFlight < 2 && this.nextBatch < this.batchCount) {
          const id = this.nextBatch++;
          const start = this.batches[2 * id]!;
          const end = this.batches[2 * id + 1]!;
          slot.inFlight++;
          const copyTo = this.copyTo?.slice(start, end);
          const sizes = this.sizes.slice(start, end);
          slot.worker.postMessage({
            id,
            algs: this.algs,
            paths: this.paths.slice(start, end),
            ...(this.options.base !== undefined ? { base: this.options.base } : {}),
            sizes,
            ...(copyTo?.some((c) => c !== undefined) ? { copyTo } : {}),
            ...(sizes.some((n) => n < 0) ? { split: true } : {}),
          });
        }
      }
    }
    this.checkDone();
  }

  private receive(
    id: number,
    hex: string,
    bytes: readonly number[],
    errors: ReadonlyArray<[number, string, string]>,
  ): void {
    const start = this.batches[2 * id]!;
    const end = this.batches[2 * id + 1]!;
    this.results.setBatch(id, start, hex, bytes, errors);
    // What a split batch left unread goes back in the queue a file a batch: these files are large.
    for (let i = start + bytes.length; i < end; i++) this.batches.push(i, i + 1);
    if (start + bytes.length < end && this.finishing && this.mainIdle) {
      this.mainIdle = false;
      setImmediate(() => this.hashOnMain());
    }
    for (let k = 0; k < bytes.length; k++) {
      const n = bytes[k]!;
      const size = this.sizes[start + k]!;
      if (size < 0 && n > 0 && !this.totalsKnown) this.progress.bytesTotal += n;
      this.progress.bytesDone += n < 0 ? Math.max(size, 0) : n;
      // A hashed file's path is not needed again (the caller knows it): its string can go.
      this.paths[start + k] = "";
      if (this.copyTo) this.copyTo[start + k] = undefined;
    }
    this.progress.filesDone += bytes.length;
    this.options.onProgress?.(this.progress);
  }

  /** Job i's path to open (see HashOptions.base). */
  private fullPath(i: number): string {
    const p = this.paths[i]!;
    const base = this.options.base;
    return base === undefined || p.startsWith("/") ? p : `${base}/${p}`;
  }

  /** Hashes batch `id` on this thread. */
  private hashBatchHere(id: number): void {
    const start = this.batches[2 * id]!;
    const end = this.batches[2 * id + 1]!;
    this.mainBuffer ??= Buffer.allocUnsafe(CHUNK);
    // The digests joined once, into one flat string (appending would keep every digest's own
    // string alive under a chain of concatenations).
    const hex: string[] = [];
    const bytes: number[] = [];
    const errors: Array<[number, string, string]> = [];
    let read = 0;
    for (let i = start; i < end; i++) {
      const size = this.sizes[i]!;
      const r = hashOne(fs, crypto, this.mainBuffer, this.fullPath(i), this.algs, this.copyTo?.[i], size);
      if (r.ok) {
        for (const a of this.algs) hex.push(r.digests[a]!);
        bytes.push(r.bytes);
        read += r.bytes;
      } else {
        bytes.push(-1);
        errors.push([i - start, r.code, r.message]);
      }
      // Files of unknown size: stop at a batch's worth of bytes, as a worker does (see workerSource).
      if (size < 0 && read >= BATCH_BYTES && i + 1 < end) break;
    }
    this.receive(id, hex.join(""), bytes, errors);
  }

  /**
   * The main thread takes the next batch not yet handed out, hashes it, then lets the workers'
   * replies in before taking another.
   */
  private hashOnMain(): void {
    if (this.failure) return;
    if (this.nextBatch >= this.batchCount) {
      this.mainIdle = true;
      return;
    }
    this.hashBatchHere(this.nextBatch++);
    this.dispatch();
    setImmediate(() => this.hashOnMain());
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    this.settle?.();
  }

  private checkDone(): void {
    if (!this.finishing) return;
    if (this.failure || (this.slots?.every((s) => s.inFlight === 0) && this.nextBatch === this.batchCount))
      this.settle?.();
  }

  /** Waits for every queued file; results by the index `add` returned. The pool is closed afterwards. */
  async finish(): Promise<HashResults> {
    this.finishing = true;
    const hinted = this.hintSizes();
    if (
      !this.slots &&
      (this.threads === 1 ||
        (this.paths.length <= INLINE_MAX_FILES && this.progress.bytesTotal + hinted <= INLINE_MAX_BYTES))
    ) {
      // Few files: hashed here, one batch at a time, without starting a worker.
      if (this.batchStart < this.paths.length) this.batches.push(this.batchStart, this.paths.length);
      this.batchStart = this.paths.length;
      while (this.nextBatch < this.batchCount) this.hashBatchHere(this.nextBatch++);
      return this.results;
    }
    if (!this.slots) this.start();
    for (const slot of this.slots ?? []) slot.worker.ref();
    try {
      await new Promise<void>((resolve) => {
        this.settle = resolve;
        this.closeBatch();
        this.dispatch();
        this.hashOnMain();
      });
      if (this.failure) throw this.failure;
      return this.results;
    } finally {
      await this.close();
    }
  }

  /** Stops the workers without waiting for queued files (when the caller gives up). */
  async close(): Promise<void> {
    const slots = this.slots ?? [];
    this.slots = [];
    this.nextBatch = this.batchCount;
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/** Hashes every job with every algorithm; results are in job order. */
export async function hashFiles(
  jobs: readonly HashJob[],
  algs: readonly Algorithm[],
  options: HashOptions = {},
): Promise<HashOutcome[]> {
  if (jobs.length === 0) return [];
  const pool = new HashPool(algs, options);
  pool.expect(
    jobs.length,
    jobs.reduce((s, j) => s + j.size, 0),
  );
  for (const j of jobs) pool.add(j.path, j.size, j.copyTo);
  const results = await pool.finish();
  return jobs.map((_, i) => results.outcome(i));
}

/** sha256 (or another algorithm) of bytes in memory, hex. */
export function digestBytes(alg: Algorithm, data: string | Uint8Array): string {
  return crypto.hash(alg, data, "hex");
}
