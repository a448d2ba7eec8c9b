// Reading a bag's content from a folder or from a .tar / .tar.gz stream (never extracted).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tarStream from "tar-stream";
import { fsInputError, UsageError } from "../errors.js";
import type { BagContents } from "./check.js";
import { type HashOutcome, HashPool, type HashProgress, hashFiles } from "./hash.js";
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
import { type WalkedFile, walkTree } from "./walk.js";

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
      ? new HashPool(preAlgs, options.onProgress ? { onProgress: options.onProgress } : {})
      : undefined;
  const pooled = new Map<string, number>();
  let walked: ReturnType<typeof walkTree>;
  try {
    walked = isBag
      ? walkTree(
          root,
          pool
            ? {
                onFile: (f) => {
                  if (f.rel.startsWith("data/")) pooled.set(f.rel, pool.add({ path: f.abs, size: f.size }));
                },
              }
            : {},
        )
      : { files: [], symlinks: [], specials: [], unreadable: [] };
  } catch (e) {
    void pool?.close();
    throw e;
  }
  const tagFiles = new Map<string, Buffer>();
  const payload = new Map<string, number>();
  const walkedByRel = new Map<string, WalkedFile>();
  for (const f of walked.files) {
    if (f.rel.startsWith("data/")) {
      payload.set(f.rel, f.size);
      walkedByRel.set(f.rel, f);
    } else tagFiles.set(f.rel, fs.readFileSync(f.abs));
  }
  let hasPayloadDir = false;
  try {
    hasPayloadDir = fs.statSync(join(root, "data")).isDirectory();
  } catch {
    hasPayloadDir = false;
  }
  let hashed = 0;
  return {
    tagFiles,
    payload,
    hasPayloadDir,
    nonRegular: [...walked.symlinks, ...walked.specials, ...walked.unreadable.map((u) => u.rel)],
    get hashed() {
      return hashed;
    },
    async release() {
      await pool?.close();
    },
    signature(takenAt) {
      const sig = new TreeSignature();
      for (const f of walkedByRel.values()) sig.addFile(f);
      for (const [name, bytes] of [...tagFiles.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
        sig.addBytes(name, bytes);
      return sig.finish(takenAt);
    },
    async hashPayload(paths, algs, onProgress) {
      const out = new Map<string, HashOutcome>();
      if (pool && algs.every((a) => preAlgs.includes(a))) {
        // Hashed during the walk: every payload file was read once, with every manifest's algorithm.
        const results = await pool.finish();
        hashed += pooled.size;
        for (const p of paths) {
          const i = pooled.get(p);
          out.set(
            p,
            i === undefined ? { ok: false, code: "ENOENT", message: "not found in the walk" } : results[i]!,
          );
        }
        return out;
      }
      await pool?.close();
      const todo: WalkedFile[] = [];
      for (const p of paths) {
        const f = walkedByRel.get(p)!;
        const hit = cache?.stat.lookup(f, algs);
        if (hit) out.set(p, { ok: true, bytes: f.size, digests: hit });
        else todo.push(f);
      }
      hashed += todo.length;
      const results = await hashFiles(
        todo.map((f) => ({ path: f.abs, size: f.size })),
        algs,
        onProgress ? { onProgress } : {},
      );
      todo.forEach((f, i) => {
        out.set(f.rel, results[i]!);
      });
      if (cache && todo.length > 0) {
        const ok = new Map<string, Partial<Record<Algorithm, string>>>();
        for (const [p, r] of out) if (r.ok && r.bytes === payload.get(p)) ok.set(p, r.digests);
        cache.stat.save([...walkedByRel.values()], ok, cache.statTakenAt);
      }
      return out;
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
      const out = new Map<string, HashOutcome>();
      for (const p of paths) {
        const d = digests.get(p);
        if (d?.ok && algs.every((a) => d.digests[a])) out.set(p, d);
        else
          out.set(p, {
            ok: false,
            code: "EALG",
            message: "not hashed while streaming (manifest after payload with an unexpected algorithm)",
          });
      }
      return out;
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
