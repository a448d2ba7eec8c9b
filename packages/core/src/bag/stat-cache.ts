// The stat cache behind incremental re-pins, kept outside the data (a bag's content never depends
// on it) and written atomically. Two levels:
//  - per file: the stat facts (size, mtime, ctime, inode, device) and the digests computed when
//    they were seen; any change of any fact means re-hash;
//  - per tree: a signature over every file's stat facts and every tag file's bytes, with the pin
//    it gave. When the signature is unchanged the pin is known without reading the per-file table
//    or the manifests at all: the re-pin of unchanged data costs one walk.
// Like git's index, a file whose mtime is too close to the moment its facts were taken is "racily
// clean" and not trusted: it could change again within the same timestamp tick.
import { createHash, type Hash } from "node:crypto";
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import type { Algorithm } from "./tagfiles.js";
import type { WalkedFile } from "./walk.js";

const FORMAT = 2;
const RACY_MS = 2000;

type Entry = [
  size: number,
  mtimeMs: number,
  ctimeMs: number,
  ino: number,
  dev: number,
  digests: Record<string, string>,
];

interface TableFile {
  format: number;
  root: string;
  writtenAt: number;
  entries: Record<string, Entry>;
}

interface SignatureFile<T> {
  format: number;
  root: string;
  signature: string;
  result: T;
}

/** Folds every file's stat facts (and any extra bytes) into one digest, noting whether any file is too fresh to trust. */
export class TreeSignature {
  private readonly hash: Hash = createHash("sha256");
  private newest = 0;
  /** Lines not yet hashed: one update per 64 KiB rather than one per file. */
  private pending = "";

  addFile(f: WalkedFile): void {
    this.pending += `${f.rel}\0${f.size}\0${f.mtimeMs}\0${f.ctimeMs}\0${f.ino}\0${f.dev}\n`;
    if (this.pending.length >= 65536) this.flush();
    if (f.mtimeMs > this.newest) this.newest = f.mtimeMs;
  }

  addBytes(name: string, bytes: Uint8Array): void {
    this.pending += `${name}\0${bytes.length}\0`;
    this.flush();
    this.hash.update(bytes);
  }

  private flush(): void {
    this.hash.update(this.pending);
    this.pending = "";
  }

  /** The signature, or undefined when a file changed too recently (relative to `takenAt`) for it to be trusted. */
  finish(takenAt: number): string | undefined {
    this.flush();
    const digest = this.hash.digest("hex");
    return this.newest >= takenAt - RACY_MS ? undefined : digest;
  }
}

export class StatCache {
  private entries: Map<string, Entry> | undefined;
  private writtenAt = 0;
  private readonly tableFile: string;
  private readonly signatureFile: string;

  private constructor(
    dir: string,
    private readonly root: string,
  ) {
    const key = createHash("sha256").update(root).digest("hex").slice(0, 32);
    this.tableFile = join(dir, "stat", `${key}.json`);
    this.signatureFile = join(dir, "stat", `${key}.sig.json`);
  }

  /** The cache of the tree at `root` (absolute) under `cacheDir`; read lazily, a missing or damaged one is empty. */
  static open(cacheDir: string, root: string): StatCache {
    return new StatCache(cacheDir, root);
  }

  /** The result recorded with this exact tree signature, if any. */
  recalled<T>(signature: string | undefined): T | undefined {
    if (!signature) return undefined;
    try {
      const s = JSON.parse(fs.readFileSync(this.signatureFile, "utf8")) as SignatureFile<T>;
      return s.format === FORMAT && s.root === this.root && s.signature === signature ? s.result : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records the result a trusted tree signature gave. */
  remember<T>(signature: string | undefined, result: T): void {
    if (!signature) return;
    this.write(this.signatureFile, {
      format: FORMAT,
      root: this.root,
      signature,
      result,
    } satisfies SignatureFile<T>);
  }

  private table(): Map<string, Entry> {
    if (!this.entries) {
      this.entries = new Map();
      try {
        const parsed = JSON.parse(fs.readFileSync(this.tableFile, "utf8")) as TableFile;
        if (parsed.format === FORMAT && parsed.root === this.root) {
          this.entries = new Map(Object.entries(parsed.entries));
          this.writtenAt = parsed.writtenAt;
        }
      } catch {
        // No cache yet, or a damaged one: start empty.
      }
    }
    return this.entries;
  }

  /** The cached digests for `algs` when every stat fact is unchanged, else undefined. */
  lookup(f: WalkedFile, algs: readonly Algorithm[]): Partial<Record<Algorithm, string>> | undefined {
    const e = this.table().get(f.rel);
    if (!e) return undefined;
    if (e[0] !== f.size || e[1] !== f.mtimeMs || e[2] !== f.ctimeMs || e[3] !== f.ino || e[4] !== f.dev)
      return undefined;
    // As in git, only mtime decides raciness; ctime must still be equal, which catches a reset mtime.
    if (f.mtimeMs >= this.writtenAt - RACY_MS) return undefined;
    const d = e[5];
    for (const a of algs) if (!d[a]) return undefined;
    return d as Partial<Record<Algorithm, string>>;
  }

  /**
   * Records what was just hashed; files absent from `present` are dropped. `statTakenAt` is when
   * the walk began: entries modified near it are re-hashed next time (see the racy rule above).
   */
  save(
    present: readonly WalkedFile[],
    digests: ReadonlyMap<string, Partial<Record<Algorithm, string>>>,
    statTakenAt: number,
  ): void {
    const entries: Record<string, Entry> = {};
    for (const f of present) {
      const d = digests.get(f.rel);
      if (d) entries[f.rel] = [f.size, f.mtimeMs, f.ctimeMs, f.ino, f.dev, d as Record<string, string>];
    }
    this.write(this.tableFile, {
      format: FORMAT,
      root: this.root,
      writtenAt: statTakenAt,
      entries,
    } satisfies TableFile);
  }

  private write(file: string, body: unknown): void {
    try {
      fs.mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(body));
      fs.renameSync(tmp, file);
    } catch {
      // A cache that cannot be written only costs speed next time.
    }
  }
}
