// The stat cache behind incremental re-pins: for each file of a payload tree, the stat facts
// (size, mtime, ctime, inode, device) and the digests computed when they were seen. Any change of
// any fact means re-hash. Kept outside the bag (a bag's content never depends on it), written
// atomically. Like git's index, an entry whose mtime is too close to the moment the cache was
// written is "racily clean" and not trusted: the file could change again within the same tick.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import type { Algorithm } from "./tagfiles.js";
import type { WalkedFile } from "./walk.js";

const FORMAT = 1;
const RACY_MS = 2000;

type Entry = [
  size: number,
  mtimeMs: number,
  ctimeMs: number,
  ino: number,
  dev: number,
  digests: Record<string, string>,
];

interface CacheFile {
  format: number;
  root: string;
  writtenAt: number;
  entries: Record<string, Entry>;
}

export class StatCache {
  private readonly entries: Map<string, Entry>;
  private readonly writtenAt: number;
  private readonly file: string;
  private readonly root: string;

  private constructor(file: string, root: string, entries: Map<string, Entry>, writtenAt: number) {
    this.file = file;
    this.root = root;
    this.entries = entries;
    this.writtenAt = writtenAt;
  }

  /** Opens the cache of the tree at `root` (absolute) under `cacheDir`; a missing or unreadable cache is empty. */
  static open(cacheDir: string, root: string): StatCache {
    const key = createHash("sha256").update(root).digest("hex").slice(0, 32);
    const file = join(cacheDir, "stat", `${key}.json`);
    try {
      const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as CacheFile;
      if (parsed.format === FORMAT && parsed.root === root) {
        return new StatCache(file, root, new Map(Object.entries(parsed.entries)), parsed.writtenAt);
      }
    } catch {
      // No cache yet, or a damaged one: start empty.
    }
    return new StatCache(file, root, new Map(), 0);
  }

  /** The cached digests for `algs` when every stat fact is unchanged, else undefined. */
  lookup(f: WalkedFile, algs: readonly Algorithm[]): Partial<Record<Algorithm, string>> | undefined {
    const e = this.entries.get(f.rel);
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
    const body: CacheFile = { format: FORMAT, root: this.root, writtenAt: statTakenAt, entries };
    try {
      fs.mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(body));
      fs.renameSync(tmp, this.file);
    } catch {
      // A cache that cannot be written only costs speed next time.
    }
  }
}
