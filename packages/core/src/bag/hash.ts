// Streaming file hashing on worker threads: one per core but one, the main thread hashing too once
// the caller waits for the results (each worker is a whole V8 heap more of memory). A file is read once, in chunks into one
// reused buffer (never whole), and every requested algorithm is updated from the same bytes; with
// `copyTo` the same chunks are written to a new file, so an out-of-place bag is copied and hashed
// in one pass. Small jobs run inline: starting workers costs more than hashing a few files.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Algorithm } from "./tagfiles.js";

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
  /** The size the walk saw; -1 when unknown. */
  size: number,
): HashOutcome {
  let fd = -1;
  let out = -1;
  try {
    fd = fsMod.openSync(path, "r");
    if (copyTo) out = fsMod.openSync(copyTo, "wx", 0o644);
    let n = fsMod.readSync(fd, buf, 0, buf.length, null);
    if (n < buf.length) {
      // Whole file in the first chunk: one-shot hashing is much faster for small files. A read of a
      // regular file that gives less than asked has reached its end; when that is the size the walk
      // saw, no second read is needed to be sure (any other count reads on until a read gives 0).
      const first = buf.subarray(0, n);
      const rest = n === 0 || n === size ? 0 : fsMod.readSync(fd, buf, n, buf.length - n, null);
      if (rest === 0) {
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

let workerCode: string | undefined;
function workerSource(): string {
  // Results travel back compactly: one string of every digest in job and algorithm order, the
  // bytes read per job (-1 for a failure) and the failures apart; no object per file.
  workerCode ??= `
const fs = require("node:fs");
const crypto = require("node:crypto");
const { parentPort } = require("node:worker_threads");
const hashOne = ${hashOne.toString()};
const buf = Buffer.allocUnsafe(${CHUNK});
parentPort.on("message", (m) => {
  let hex = "";
  const bytes = new Array(m.paths.length);
  const errors = [];
  for (let k = 0; k < m.paths.length; k++) {
    const r = hashOne(fs, crypto, buf, m.paths[k], m.algs, m.copyTo ? m.copyTo[k] : undefined, m.sizes[k]);
    if (r.ok) {
      for (const a of m.algs) hex += r.digests[a];
      bytes[k] = r.bytes;
    } else {
      bytes[k] = -1;
      errors.push([k, r.code, r.message]);
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
/** Hex digits of each algorithm's digest. */
const HEX_LENGTH: Record<Algorithm, number> = {
  md5: 32,
  sha1: 40,
  sha224: 56,
  sha256: 64,
  sha384: 96,
  sha512: 128,
};

export interface HashOptions {
  threads?: number;
  onProgress?: (p: HashProgress) => void;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

/**
 * Hashes files as they are added, so that a walk and the hashing overlap: jobs are batched in
 * order and handed to worker threads (started once there is enough work to pay for them) while
 * the caller goes on finding files. `finish` gives every result, in the order the jobs were added.
 */
export class HashPool {
  private readonly jobs: HashJob[] = [];
  private readonly results: HashOutcome[] = [];
  private readonly batches: Array<{ start: number; end: number }> = [];
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

  constructor(
    private readonly algs: readonly Algorithm[],
    private readonly options: HashOptions = {},
  ) {
    this.threads = Math.max(1, options.threads ?? availableParallelism());
  }

  /** Announces the totals for progress reports when they are known in advance. */
  expect(files: number, bytes: number): void {
    this.progress.filesTotal = files;
    this.progress.bytesTotal = bytes;
    this.totalsKnown = true;
  }

  /** Queues one file; its result will be at this index. */
  add(job: HashJob): number {
    const i = this.jobs.length;
    this.jobs.push(job);
    if (!this.totalsKnown) {
      this.progress.filesTotal++;
      this.progress.bytesTotal += job.size;
    }
    this.batchBytes += job.size;
    if (i + 1 - this.batchStart >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) this.closeBatch();
    return i;
  }

  private closeBatch(): void {
    if (this.batchStart === this.jobs.length) return;
    this.batches.push({ start: this.batchStart, end: this.jobs.length });
    this.batchStart = this.jobs.length;
    this.batchBytes = 0;
    if (
      !this.slots &&
      this.threads > 1 &&
      (this.jobs.length > INLINE_MAX_FILES || this.progress.bytesTotal > INLINE_MAX_BYTES)
    )
      this.start();
    this.dispatch();
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
          this.receive(m);
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
        while (slot.inFlight < 2 && this.nextBatch < this.batches.length) {
          const id = this.nextBatch++;
          const b = this.batches[id]!;
          const jobs = this.jobs.slice(b.start, b.end);
          slot.inFlight++;
          slot.worker.postMessage({
            id,
            algs: this.algs,
            paths: jobs.map((j) => j.path),
            sizes: jobs.map((j) => j.size),
            ...(jobs.some((j) => j.copyTo) ? { copyTo: jobs.map((j) => j.copyTo) } : {}),
          });
        }
      }
    }
    this.checkDone();
  }

  private receive(m: {
    id: number;
    hex: string;
    bytes: number[];
    errors: Array<[number, string, string]>;
  }): void {
    const b = this.batches[m.id]!;
    const errors = new Map(m.errors.map(([k, code, message]) => [k, { ok: false as const, code, message }]));
    let at = 0;
    for (let k = 0; k < m.bytes.length; k++) {
      const n = m.bytes[k]!;
      const job = this.jobs[b.start + k]!;
      if (n < 0) {
        this.results[b.start + k] = errors.get(k)!;
        this.progress.bytesDone += job.size;
        continue;
      }
      const digests: Partial<Record<Algorithm, string>> = {};
      for (const a of this.algs) {
        digests[a] = m.hex.slice(at, at + HEX_LENGTH[a]);
        at += HEX_LENGTH[a];
      }
      this.results[b.start + k] = { ok: true, bytes: n, digests };
      this.progress.bytesDone += n;
    }
    this.progress.filesDone += m.bytes.length;
    this.options.onProgress?.(this.progress);
  }

  /**
   * The main thread takes the next batch not yet handed out, hashes it, then lets the workers'
   * replies in before taking another.
   */
  private hashOnMain(): void {
    if (this.failure || this.nextBatch >= this.batches.length) return;
    const b = this.batches[this.nextBatch++]!;
    this.mainBuffer ??= Buffer.allocUnsafe(CHUNK);
    for (let i = b.start; i < b.end; i++) {
      const j = this.jobs[i]!;
      const r = hashOne(fs, crypto, this.mainBuffer, j.path, this.algs, j.copyTo, j.size);
      this.results[i] = r;
      this.progress.bytesDone += r.ok ? r.bytes : j.size;
    }
    this.progress.filesDone += b.end - b.start;
    this.options.onProgress?.(this.progress);
    this.checkDone();
    setImmediate(() => this.hashOnMain());
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    this.settle?.();
  }

  private checkDone(): void {
    if (!this.finishing) return;
    if (
      this.failure ||
      (this.slots?.every((s) => s.inFlight === 0) && this.nextBatch === this.batches.length)
    )
      this.settle?.();
  }

  /** Waits for every queued file; results in the order added. The pool is closed afterwards. */
  async finish(): Promise<HashOutcome[]> {
    this.finishing = true;
    if (
      !this.slots &&
      (this.threads === 1 ||
        (this.jobs.length <= INLINE_MAX_FILES && this.progress.bytesTotal <= INLINE_MAX_BYTES))
    ) {
      const buf = Buffer.allocUnsafe(CHUNK);
      return this.jobs.map((j) => {
        const r = hashOne(fs, crypto, buf, j.path, this.algs, j.copyTo, j.size);
        this.progress.filesDone++;
        this.progress.bytesDone += r.ok ? r.bytes : j.size;
        this.options.onProgress?.(this.progress);
        return r;
      });
    }
    if (!this.slots) this.start();
    for (const slot of this.slots ?? []) slot.worker.ref();
    try {
      await new Promise<void>((resolve) => {
        this.settle = resolve;
        this.closeBatch();
        this.checkDone();
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
    this.nextBatch = this.batches.length;
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
  for (const j of jobs) pool.add(j);
  return pool.finish();
}

/** sha256 (or another algorithm) of bytes in memory, hex. */
export function digestBytes(alg: Algorithm, data: string | Uint8Array): string {
  return crypto.hash(alg, data, "hex");
}
