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
import type { FileTable } from "./walk.js";

const FORMAT = 3;
const RACY_MS = 2000;

/**
 * The per-file table (format 3) is text, written and read without an object per file: a JSON
 * header line {format, root, writtenAt}, then per file seven fields each ended by NUL (a name
 * holds no NUL): the path, size, mtimeMs, ctimeMs, inode, device, and "alg:hex,alg:hex".
 */
interface TableHeader {
  format: number;
  root: string;
  writtenAt: number;
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

  /** Adds file i of a walk. */
  addFile(t: FileTable, i: number): void {
    const mtimeMs = t.mtimeMs[i]!;
    this.pending += `${t.rel[i]}\0${t.size[i]}\0${mtimeMs}\0${t.ctimeMs[i]}\0${t.ino[i]}\0${t.dev[i]}\n`;
    if (this.pending.length >= 65536) this.flush();
    if (mtimeMs > this.newest) this.newest = mtimeMs;
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
  private entries: Map<string, number> | undefined;
  private text = "";
  private writtenAt = 0;
  private readonly tableFile: string;
  private readonly signatureFile: string;
  private readonly textFile: string;

  private constructor(
    dir: string,
    private readonly root: string,
  ) {
    const key = createHash("sha256").update(root).digest("hex").slice(0, 32);
    this.tableFile = join(dir, "stat", `${key}.json`);
    this.signatureFile = join(dir, "stat", `${key}.sig.json`);
    this.textFile = join(dir, "stat", `${key}.sig.txt`);
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

  /**
   * The text recorded beside the result of this exact signature (a payload manifest, kept as its
   * bytes rather than inside the JSON); undefined when there is none for it.
   */
  recalledText(signature: string): string | undefined {
    try {
      const text = fs.readFileSync(this.textFile, "utf8");
      const eol = text.indexOf("\n");
      return text.slice(0, eol) === signature ? text.slice(eol + 1) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Records the result a trusted tree signature gave, and `text` beside it when given: written from
   * its bytes as they are (a 50,000-file manifest is 4 MB; inside the JSON it would be copied twice).
   */
  remember<T>(signature: string | undefined, result: T, text?: Uint8Array): void {
    if (!signature) return;
    if (text) {
      try {
        fs.mkdirSync(dirname(this.textFile), { recursive: true });
        const tmp = `${this.textFile}.${process.pid}.tmp`;
        const fd = fs.openSync(tmp, "w");
        try {
          fs.writeSync(fd, `${signature}\n`);
          fs.writeSync(fd, text);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, this.textFile);
      } catch {
        return;
      }
    }
    this.write(this.signatureFile, {
      format: FORMAT,
      root: this.root,
      signature,
      result,
    } satisfies SignatureFile<T>);
  }

  /** The table's text and, per path, where its fields after the path begin (read lazily). */
  private table(): Map<string, number> {
    if (!this.entries) {
      this.entries = new Map();
      try {
        const text = fs.readFileSync(this.tableFile, "utf8");
        const eol = text.indexOf("\n");
        const header = JSON.parse(text.slice(0, eol)) as TableHeader;
        if (header.format === FORMAT && header.root === this.root) {
          // Per path (a slice of the text: no copy), where its other fields begin.
          const entries = new Map<string, number>();
          let at = eol + 1;
          while (at < text.length) {
            const start = at;
            const end = text.indexOf("\0", at);
            if (end < 0) throw new Error("truncated");
            const fields = end + 1;
            at = fields;
            for (let k = 0; k < 6; k++) {
              const next = text.indexOf("\0", at);
              if (next < 0) throw new Error("truncated");
              at = next + 1;
            }
            entries.set(text.slice(start, end), fields);
          }
          this.text = text;
          this.entries = entries;
          this.writtenAt = header.writtenAt;
        }
      } catch {
        // No cache yet, or a damaged one: start empty.
      }
    }
    return this.entries;
  }

  /** The cached digests for `algs` of file i of a walk when every stat fact is unchanged, else undefined. */
  lookup(
    t: FileTable,
    i: number,
    algs: readonly Algorithm[],
  ): Partial<Record<Algorithm, string>> | undefined {
    const at = this.table().get(t.rel[i]!);
    if (at === undefined) return undefined;
    const text = this.text;
    const f: string[] = [];
    let from = at;
    for (let k = 0; k < 6; k++) {
      const end = text.indexOf("\0", from);
      f.push(text.slice(from, end));
      from = end + 1;
    }
    const mtimeMs = t.mtimeMs[i]!;
    if (
      Number(f[0]) !== t.size[i] ||
      Number(f[1]) !== mtimeMs ||
      Number(f[2]) !== t.ctimeMs[i] ||
      Number(f[3]) !== t.ino[i] ||
      Number(f[4]) !== t.dev[i]
    )
      return undefined;
    // As in git, only mtime decides raciness; ctime must still be equal, which catches a reset mtime.
    if (mtimeMs >= this.writtenAt - RACY_MS) return undefined;
    const d: Record<string, string> = {};
    for (const pair of f[5]!.split(",")) {
      const colon = pair.indexOf(":");
      d[pair.slice(0, colon)] = pair.slice(colon + 1);
    }
    for (const a of algs) if (!d[a]) return undefined;
    return d as Partial<Record<Algorithm, string>>;
  }

  /**
   * Records what was just hashed: each file of `present` with its digests (files without any, and
   * files absent from `present`, are dropped). `statTakenAt` is when the walk began: entries
   * modified near it are re-hashed next time (see the racy rule above). Written in 64 KiB pieces.
   */
  save(
    present: FileTable,
    digests: (i: number) => Partial<Record<Algorithm, string>> | undefined,
    statTakenAt: number,
  ): void {
    const tmp = `${this.tableFile}.${process.pid}.tmp`;
    let fd = -1;
    try {
      fs.mkdirSync(dirname(this.tableFile), { recursive: true });
      fd = fs.openSync(tmp, "w");
      const header: TableHeader = { format: FORMAT, root: this.root, writtenAt: statTakenAt };
      let chunk = `${JSON.stringify(header)}\n`;
      for (let i = 0; i < present.length; i++) {
        const d = digests(i);
        if (!d) continue;
        const sums = Object.entries(d)
          .map(([a, hex]) => `${a}:${hex}`)
          .join(",");
        chunk += `${present.rel[i]}\0${present.size[i]}\0${present.mtimeMs[i]}\0${present.ctimeMs[i]}\0${present.ino[i]}\0${present.dev[i]}\0${sums}\0`;
        if (chunk.length >= 65536) {
          fs.writeSync(fd, chunk);
          chunk = "";
        }
      }
      fs.writeSync(fd, chunk);
      fs.closeSync(fd);
      fd = -1;
      fs.renameSync(tmp, this.tableFile);
    } catch {
      // A cache that cannot be written only costs speed next time.
      if (fd >= 0) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    }
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
