// Streaming file hashing on worker threads, one per core. A file is read once, in chunks into one
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
  /** Expected size (from stat), used to balance work; the result says what was read. */
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
): HashOutcome {
  let fd = -1;
  let out = -1;
  try {
    fd = fsMod.openSync(path, "r");
    if (copyTo) out = fsMod.openSync(copyTo, "wx", 0o644);
    let n = fsMod.readSync(fd, buf, 0, buf.length, null);
    if (n < buf.length) {
      // Whole file in the first chunk: one-shot hashing is much faster for small files.
      const first = buf.subarray(0, n);
      const rest = n === 0 ? 0 : fsMod.readSync(fd, buf, n, buf.length - n, null);
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

function workerSource(): string {
  return `
const fs = require("node:fs");
const crypto = require("node:crypto");
const { parentPort } = require("node:worker_threads");
const hashOne = ${hashOne.toString()};
const buf = Buffer.allocUnsafe(${CHUNK});
parentPort.on("message", (m) => {
  const results = m.jobs.map((j) => hashOne(fs, crypto, buf, j.path, m.algs, j.copyTo));
  parentPort.postMessage({ id: m.id, results });
});`;
}

/** Below this much work, hash inline rather than start workers. */
const INLINE_MAX_FILES = 64;
const INLINE_MAX_BYTES = 8 * 1024 * 1024;
/** A batch closes at this many files or bytes, to amortise messaging for small files. */
const BATCH_FILES = 128;
const BATCH_BYTES = 16 * 1024 * 1024;

export interface HashOptions {
  threads?: number;
  onProgress?: (p: HashProgress) => void;
}

/** Hashes every job with every algorithm; results are in job order. */
export async function hashFiles(
  jobs: readonly HashJob[],
  algs: readonly Algorithm[],
  options: HashOptions = {},
): Promise<HashOutcome[]> {
  const bytesTotal = jobs.reduce((s, j) => s + j.size, 0);
  const progress: HashProgress = { filesDone: 0, filesTotal: jobs.length, bytesDone: 0, bytesTotal };
  const threads = Math.max(1, options.threads ?? availableParallelism());
  if (jobs.length === 0) return [];
  if (threads === 1 || (jobs.length <= INLINE_MAX_FILES && bytesTotal <= INLINE_MAX_BYTES)) {
    const buf = Buffer.allocUnsafe(CHUNK);
    return jobs.map((j) => {
      const r = hashOne(fs, crypto, buf, j.path, algs, j.copyTo);
      progress.filesDone++;
      progress.bytesDone += r.ok ? r.bytes : j.size;
      options.onProgress?.(progress);
      return r;
    });
  }

  // Batches in job order; large files travel alone.
  const batches: Array<{ start: number; end: number }> = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < jobs.length; i++) {
    bytes += jobs[i]!.size;
    if (i + 1 - start >= BATCH_FILES || bytes >= BATCH_BYTES) {
      batches.push({ start, end: i + 1 });
      start = i + 1;
      bytes = 0;
    }
  }
  if (start < jobs.length) batches.push({ start, end: jobs.length });

  const results = new Array<HashOutcome>(jobs.length);
  const workers = Array.from(
    { length: Math.min(threads, batches.length) },
    () => new Worker(workerSource(), { eval: true }),
  );
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            // Two batches in flight per worker hide the messaging round trip.
            let inFlight = 0;
            const send = () => {
              while (inFlight < 2 && next < batches.length) {
                const id = next++;
                const b = batches[id]!;
                inFlight++;
                w.postMessage({
                  id,
                  algs,
                  jobs: jobs
                    .slice(b.start, b.end)
                    .map((j) => (j.copyTo ? { path: j.path, copyTo: j.copyTo } : { path: j.path })),
                });
              }
              if (inFlight === 0) resolve();
            };
            w.on("message", (m: { id: number; results: HashOutcome[] }) => {
              inFlight--;
              const b = batches[m.id]!;
              m.results.forEach((r, k) => {
                results[b.start + k] = r;
                progress.bytesDone += r.ok ? r.bytes : jobs[b.start + k]!.size;
              });
              progress.filesDone += m.results.length;
              options.onProgress?.(progress);
              send();
            });
            w.on("error", reject);
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

/** sha256 (or another algorithm) of bytes in memory, hex. */
export function digestBytes(alg: Algorithm, data: string | Uint8Array): string {
  return crypto.hash(alg, data, "hex");
}
