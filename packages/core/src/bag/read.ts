// Reading a bag's content from a folder or from a .tar / .tar.gz stream (never extracted).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tarStream from "tar-stream";
import { fsInputError, UsageError } from "../errors.js";
import type { BagContents, PayloadFiles } from "./check.js";
import { type HashOutcome, HashPool, type HashProgress, type HashResults } from "./hash.js";
import { safePath } from "./paths.js";
import { type StatCache, TreeSignature } from "./stat-cache.js";
import {
  ALGORITHMS,
  type Algorithm,
  decodeTagFile,
  isAlgorithm,
  manifestAlgorithm,
  parseBagitTxt,
} from "./tagfiles.js";
import { FileTable, walkFiles } from "./walk.js";

export type BagLocation = { kind: "dir"; path: string } | { kind: "tar"; path: string; gzip: boolean };

/** Says whether PATH is a bag folder or a tar archive; a usage error when it is neither. */
export function locateBag(path: string, label = "bag"): BagLocation {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    throw fsInputError(`${label} "${path}"`, e);
  }
  if (st.isDirectory()) return { kind: "dir", path: resolve(path) };
  if (!st.isFile())
    throw new UsageError("not-a-bag", `${label} "${path}" is neither a folder nor a tar file`);
  const head = Buffer.alloc(512);
  const fd = fs.openSync(path, "r");
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 512, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return { kind: "tar", path: resolve(path), gzip: true };
  if (n >= 262 && head.subarray(257, 262).toString("latin1") === "ustar")
    return { kind: "tar", path: resolve(path), gzip: false };
  throw new UsageError(
    "not-a-bag",
    `${label} "${path}" is a file but not a .tar or .tar.gz archive; give a bag folder or a tar of one`,
  );
}

/** A bag folder's content: tag files read (they are small), payload sized and hashed on demand. */
/** A folder bag's content, with the signature of its tree for the stat cache's fast path. */
export interface DirBagContents extends BagContents {
  /** Signature over every payload file's stat facts and every tag file's bytes (see TreeSignature). */
  signature(takenAt: number): string | undefined;
}

export interface ReadDirOptions {
  /**
   * Start hashing the payload during the walk, with the algorithms the payload manifests' names
   * give (a full validation reads every file anyway). Not with a stat cache.
   */
  prehash?: boolean;
  onProgress?: (p: HashProgress) => void;
}

/** The algorithms of the payload manifests at the top of a bag, from their names alone. */
function payloadManifestAlgorithms(root: string): Algorithm[] {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const algs = new Set<Algorithm>();
  for (const n of names) {
    const m = manifestAlgorithm(n);
    if (m?.kind === "payload" && isAlgorithm(m.alg)) algs.add(m.alg);
  }
  return [...algs].sort();
}

/** A walk's payload files ("data/…") with their sizes: one Map (path -> file index) over the walk's columns. */
class WalkedPayload implements PayloadFiles {
  constructor(
    private readonly lookup: () => Map<string, number>,
    private readonly files: FileTable,
    private readonly count: number,
  ) {}
  private get index(): Map<string, number> {
    return this.lookup();
  }
  get size(): number {
    return this.count;
  }
  has(path: string): boolean {
    return this.index.has(path);
  }
  get(path: string): number | undefined {
    const i = this.index.get(path);
    return i === undefined ? undefined : this.files.size[i];
  }
  keys(): Iterable<string> {
    return this.index.keys();
  }
  *values(): Iterable<number> {
    for (const i of this.index.values()) yield this.files.size[i]!;
  }
}

export function readDirContents(
  root: string,
  cache?: { stat: StatCache; statTakenAt: number },
  options: ReadDirOptions = {},
): DirBagContents {
  // Not a bag: do not read a whole foreign tree into memory just to say so.
  const isBag = fs.existsSync(join(root, "bagit.txt"));
  const preAlgs = isBag && options.prehash && !cache ? payloadManifestAlgorithms(root) : [];
  const pool =
    preAlgs.length > 0
      ? new HashPool(preAlgs, {
          base: resolve(root),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        })
      : undefined;
  /** Per walked file: its index in the pool hashing ahead of time. */
  const pooled: number[] = [];
  let walked: ReturnType<typeof walkFiles>;
  try {
    walked = isBag
      ? walkFiles(root, {
          // With a stat cache most files are not read: the stat pass is most of the time. Hashed
          // while walked, a file needs no stat of its own: the read gives its size.
          ...(cache ? { parallelStat: true } : pool ? { noStat: true } : {}),
          ...(pool
            ? {
                onFile: (t: FileTable, i: number) => {
                  if (t.rel[i]!.startsWith("data/")) pooled[i] = pool.add(t.readPath(i), t.size[i]!);
                },
              }
            : {}),
        })
      : { files: new FileTable(resolve(root)), symlinks: [], specials: [], unreadable: [] };
  } catch (e) {
    void pool?.close();
    throw e;
  }
  const files = walked.files;
  /** The payload files' indexes in the walk, in walk order. */
  const payloadFiles: number[] = [];
  for (let i = 0; i < files.length; i++) if (files.rel[i]!.startsWith("data/")) payloadFiles.push(i);
  /** Payload path -> index in the walk: made when a file is looked up by path (a re-pin from the cache never is). */
  let byPath: Map<string, number> | undefined;
  const index = () => (byPath ??= new Map(payloadFiles.map((i) => [files.rel[i]!, i])));
  const tagFiles = new Map<string, Buffer>();
  for (let i = 0; i < files.length; i++) {
    const rel = files.rel[i]!;
    if (!rel.startsWith("data/")) tagFiles.set(rel, fs.readFileSync(files.abs(i)));
  }
  const payload = new WalkedPayload(index, files, payloadFiles.length);
  let hasPayloadDir = false;
  try {
    hasPayloadDir = fs.statSync(join(root, "data")).isDirectory();
  } catch {
    hasPayloadDir = false;
  }
  let hashed = 0;
  const notWalked: HashOutcome = { ok: false, code: "ENOENT", message: "not found in the walk" };
  // Hashing ahead of time: the payload's sizes are those read (a file that could not be read is
  // stat-ed instead; one that is gone counts 0, its read error is reported).
  let settled: Promise<HashResults> | undefined;
  const prehashed = (p: HashPool) =>
    (settled ??= p.finish().then((results) => {
      for (const i of payloadFiles) {
        if (files.size[i]! >= 0) continue;
        const n = results.bytes(pooled[i]!);
        if (n >= 0) files.setSize(i, n);
        else {
          try {
            files.setSize(i, fs.lstatSync(files.abs(i)).size);
          } catch {
            files.setSize(i, 0);
          }
        }
      }
      return results;
    }));
  return {
    tagFiles,
    payload,
    hasPayloadDir,
    ...(pool
      ? {
          async settleSizes() {
            await prehashed(pool);
          },
        }
      : {}),
    nonRegular: [...walked.symlinks, ...walked.specials, ...walked.unreadable.map((u) => u.rel)],
    get hashed() {
      return hashed;
    },
    async release() {
      await pool?.close();
    },
    signature(takenAt) {
      const sig = new TreeSignature();
      for (const i of payloadFiles) sig.addFile(files, i);
      for (const [name, bytes] of [...tagFiles.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
        sig.addBytes(name, bytes);
      return sig.finish(takenAt);
    },
    async hashPayload(paths, algs, onProgress) {
      if (pool && algs.every((a) => preAlgs.includes(a))) {
        // Hashed during the walk: every payload file was read once, with every manifest's algorithm.
        const results = await prehashed(pool);
        hashed += pool.size;
        return (p) => {
          const i = index().get(p);
          return i === undefined ? notWalked : results.outcome(pooled[i]!);
        };
      }
      await pool?.close();
      // Per walked file asked for: its index in this pool, or -1 when the stat cache knew it.
      const jobOf: number[] = [];
      const hits = new Map<number, Partial<Record<Algorithm, string>>>();
      const todo: number[] = [];
      let todoBytes = 0;
      for (const p of paths) {
        const i = index().get(p);
        if (i === undefined) continue;
        const hit = cache?.stat.lookup(files, i, algs);
        if (hit) {
          hits.set(i, hit);
          jobOf[i] = -1;
        } else {
          todo.push(i);
          todoBytes += Math.max(0, files.size[i]!);
        }
      }
      const hashing = new HashPool(algs, { base: files.root, ...(onProgress ? { onProgress } : {}) });
      hashing.expect(todo.length, todoBytes);
      for (const i of todo) jobOf[i] = hashing.add(files.readPath(i), files.size[i]!);
      hashed += todo.length;
      const results = await hashing.finish();
      if (cache && todo.length > 0) {
        cache.stat.save(
          files,
          (i) => {
            const j = jobOf[i];
            if (j === undefined) return undefined;
            if (j < 0) return hits.get(i);
            if (results.bytes(j) !== files.size[i]) return undefined;
            const d: Partial<Record<Algorithm, string>> = {};
            for (const a of algs) d[a] = results.digest(j, a)!;
            return d;
          },
          cache.statTakenAt,
        );
      }
      return (p) => {
        const i = index().get(p);
        if (i === undefined) return undefined;
        const j = jobOf[i];
        if (j === undefined) return undefined;
        if (j >= 0) return results.outcome(j);
        return { ok: true, bytes: files.size[i]!, digests: hits.get(i)! };
      };
    },
  };
}

/**
 * A tar's content, read in one streaming pass. The archive must hold one top-level folder. Payload
 * entries are hashed as they stream by, with the algorithms of the manifests seen so far (track-run
 * writes tag files first), or every supported algorithm when the payload comes first.
 */
export async function readTarContents(
  loc: Extract<BagLocation, { kind: "tar" }>,
  options: { hash?: boolean } = {},
): Promise<BagContents> {
  const hashing = options.hash ?? true;
  const tagFiles = new Map<string, Buffer>();
  const payload = new Map<string, number>();
  const digests = new Map<string, HashOutcome>();
  const nonRegular: string[] = [];
  const refused: string[] = [];
  let top: string | undefined;
  let hasPayloadDir = false;
  let known: Algorithm[] | undefined;

  const extract = tarStream.extract();
  const source = fs.createReadStream(loc.path, { highWaterMark: 1024 * 1024 });
  const feeding = loc.gzip ? pipeline(source, createGunzip(), extract) : pipeline(source, extract);
  feeding.catch(() => undefined);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = h.name.replace(/\/+$/, "");
      const slash = name.indexOf("/");
      const first = slash < 0 ? name : name.slice(0, slash);
      const rest = slash < 0 ? "" : name.slice(slash + 1);
      if (top === undefined) top = first;
      const drain = async () => {
        for await (const _ of entry) {
          // discard
        }
      };
      if (first !== top || first === "" || first === "." || first === "..") {
        refused.push(`${h.name}: outside the single top-level folder "${top}"`);
        await drain();
        continue;
      }
      if (rest === "") {
        await drain();
        continue;
      }
      const check = safePath(rest);
      if (!check.ok) {
        refused.push(`${h.name}: ${check.reason}`);
        await drain();
        continue;
      }
      const path = check.path;
      if (h.type === "directory") {
        if (path === "data") hasPayloadDir = true;
        await drain();
      } else if (h.type === "file" || h.type === "contiguous-file") {
        if (path.startsWith("data/")) {
          hasPayloadDir = true;
          const algs = hashing ? (known ?? [...ALGORITHMS]) : [];
          const hashes = algs.map((a) => createHash(a));
          let bytes = 0;
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            for (const x of hashes) x.update(chunk);
            bytes += chunk.length;
          }
          payload.set(path, bytes);
          const d: Partial<Record<Algorithm, string>> = {};
          algs.forEach((a, i) => {
            d[a] = hashes[i]!.digest("hex");
          });
          digests.set(path, { ok: true, bytes, digests: d });
        } else {
          const chunks: Buffer[] = [];
          for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
          const body = Buffer.concat(chunks);
          tagFiles.set(path, body);
          const m = manifestAlgorithm(path);
          if (m?.kind === "payload" && (ALGORITHMS as readonly string[]).includes(m.alg)) {
            known = [...new Set([...(known ?? []), m.alg as Algorithm])];
          }
        }
      } else {
        nonRegular.push(path);
        await drain();
      }
    }
    await feeding;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(
      "tar-unreadable",
      `"${loc.path}" is not a readable tar archive: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (top === undefined) throw new UsageError("tar-empty", `"${loc.path}" is an empty archive`);
  return {
    tagFiles,
    payload,
    hasPayloadDir,
    nonRegular: [...nonRegular, ...refused],
    hashed: payload.size,
    async hashPayload(paths, algs) {
      const asked = new Set(paths);
      return (p) => {
        if (!asked.has(p)) return undefined;
        const d = digests.get(p);
        return d?.ok && algs.every((a) => d.digests[a])
          ? d
          : {
              ok: false,
              code: "EALG",
              message: "not hashed while streaming (manifest after payload with an unexpected algorithm)",
            };
      };
    },
  };
}

/** Reads a bag's content from wherever it is. */
export async function readBagContents(
  loc: BagLocation,
  options: { hash?: boolean } & ReadDirOptions = {},
): Promise<BagContents> {
  return loc.kind === "dir"
    ? readDirContents(loc.path, undefined, {
        ...(options.prehash ? { prehash: true } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      })
    : readTarContents(loc, options.hash === undefined ? {} : { hash: options.hash });
}

/** The tag-file encoding a bag declares (UTF-8 when bagit.txt cannot be read). */
export function bagEncoding(tagFiles: ReadonlyMap<string, Buffer>): string {
  const b = tagFiles.get("bagit.txt");
  const d = b ? parseBagitTxt(b) : undefined;
  return d?.ok ? d.value.encoding : "UTF-8";
}

export function tagText(tagFiles: ReadonlyMap<string, Buffer>, name: string): string | undefined {
  const b = tagFiles.get(name);
  return b === undefined ? undefined : decodeTagFile(b, bagEncoding(tagFiles));
}
