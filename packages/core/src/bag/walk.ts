// Walks a payload tree with stat facts per file (what Payload-Oxum and the stat cache need).
// Symbolic links are refused unless followed; fifos, sockets and devices are always refused.
// The files found are kept as columns (a path array and one number array per stat fact), not as an
// object each: a tree of many small files stays small in memory.
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { Worker } from "node:worker_threads";

export interface WalkedFile {
  /** Path relative to the walk root, "/"-separated. */
  rel: string;
  /** Absolute path to read (the link target's path when a followed symlink). */
  abs: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

type StatFacts = Pick<fs.Stats, "size" | "mtimeMs" | "ctimeMs" | "ino" | "dev">;
const UNKNOWN: StatFacts = { size: -1, mtimeMs: 0, ctimeMs: 0, ino: 0, dev: 0 };

/** The regular files of a walk, in walk order, as columns: file i is rel[i], size[i], … */
export class FileTable {
  readonly rel: string[] = [];
  readonly size: number[] = [];
  readonly mtimeMs: number[] = [];
  readonly ctimeMs: number[] = [];
  readonly ino: number[] = [];
  readonly dev: number[] = [];
  /** The absolute path of a followed link's target, by index (other files are under the root). */
  private readonly targets = new Map<number, string>();

  constructor(readonly root: string) {}

  get length(): number {
    return this.rel.length;
  }

  push(rel: string, s: StatFacts, target?: string): number {
    const i = this.rel.length;
    this.rel.push(rel);
    this.size.push(s.size);
    this.mtimeMs.push(s.mtimeMs);
    this.ctimeMs.push(s.ctimeMs);
    this.ino.push(s.ino);
    this.dev.push(s.dev);
    if (target !== undefined) this.targets.set(i, target);
    return i;
  }

  /** Sets file i's stat facts (taken after it was pushed). */
  set(i: number, size: number, mtimeMs: number, ctimeMs: number, ino: number, dev: number): void {
    this.size[i] = size;
    this.mtimeMs[i] = mtimeMs;
    this.ctimeMs[i] = ctimeMs;
    this.ino[i] = ino;
    this.dev[i] = dev;
  }

  /**
   * The path to read file i from: relative to the root (the string kept here: no new one), or
   * absolute for a file not under the root (a followed link's target).
   */
  readPath(i: number): string {
    return this.targets.get(i) ?? this.rel[i]!;
  }

  /** The absolute path to read file i from. */
  abs(i: number): string {
    return this.targets.get(i) ?? `${this.root}/${this.rel[i]}`;
  }

  /** Sets file i's size (known once it was read, in a walk without stat facts). */
  setSize(i: number, size: number): void {
    this.size[i] = size;
  }

  /** The sum of every file's size. */
  bytes(): number {
    let n = 0;
    for (const s of this.size) n += s;
    return n;
  }

  /** File i as one object (for callers with few files). */
  file(i: number): WalkedFile {
    return {
      rel: this.rel[i]!,
      abs: this.abs(i),
      size: this.size[i]!,
      mtimeMs: this.mtimeMs[i]!,
      ctimeMs: this.ctimeMs[i]!,
      ino: this.ino[i]!,
      dev: this.dev[i]!,
    };
  }
}

export interface WalkResult {
  files: FileTable;
  symlinks: string[];
  specials: string[];
  /** Folders that could not be read, with the reason. */
  unreadable: Array<{ rel: string; code: string }>;
}

export interface WalkOptions {
  followSymlinks?: boolean;
  /** Relative paths (files or folders) to leave out, e.g. tag files when bagging in place. */
  skip?: (rel: string, isDir: boolean) => boolean;
  /** Told of each regular file as soon as it is found (in walk order), e.g. to start hashing it. */
  onFile?: (files: FileTable, i: number) => void;
  /**
   * Take the files' stat facts on two threads, after the folders are read (for a walk that reads
   * no file: a re-pin's stat pass is most of its time). onFile is then told once the walk is done.
   */
  parallelStat?: boolean;
  /**
   * Take no stat facts of regular files (size -1, the rest 0): for a walk whose files are all read
   * at once, where the reader's open and fstat tell what is needed (see hashOne).
   */
  noStat?: boolean;
}

/** Synchronous on purpose: for tens of thousands of files one thread of sync stats beats promises. */
export function walkFiles(root: string, options: WalkOptions = {}): WalkResult {
  const base = resolve(root);
  const out: WalkResult = { files: new FileTable(base), symlinks: [], specials: [], unreadable: [] };
  const files = out.files;
  // With parallelStat, files are pushed with unknown facts and stat-ed once the folders are read;
  // the helper thread starts as soon as there are enough of them, while the walk goes on.
  const parallel = Boolean(options.parallelStat);
  let helper: Worker | undefined;
  /** Indexes of the files whose facts are still to be taken (parallelStat). */
  const toStat: number[] = [];
  const seenDirs = new Set<string>();
  /** `viaLink`: absDir is a followed link's target, not root/relDir. */
  const visit = (absDir: string, relDir: string, viaLink: boolean) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(absDir, { withFileTypes: true });
    } catch (e) {
      out.unreadable.push({ rel: relDir || ".", code: (e as NodeJS.ErrnoException).code ?? "EIO" });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of entries) {
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      if (d.isDirectory()) {
        if (options.skip?.(rel, true)) continue;
        visit(`${absDir}/${d.name}`, rel, viaLink);
      } else if (d.isFile()) {
        if (options.skip?.(rel, false)) continue;
        if (parallel) {
          toStat.push(files.push(rel, UNKNOWN, viaLink ? `${absDir}/${d.name}` : undefined));
          if (!helper && toStat.length === PARALLEL_STAT_MIN) helper = startStatHelper();
        } else {
          const abs = `${absDir}/${d.name}`;
          const i = files.push(rel, options.noStat ? UNKNOWN : fs.lstatSync(abs), viaLink ? abs : undefined);
          options.onFile?.(files, i);
        }
      } else if (d.isSymbolicLink()) {
        if (options.skip?.(rel, false)) continue;
        if (!options.followSymlinks) {
          out.symlinks.push(rel);
          continue;
        }
        let s: fs.Stats;
        let target: string;
        try {
          target = fs.realpathSync(join(absDir, d.name));
          s = fs.statSync(target);
        } catch {
          out.unreadable.push({ rel, code: "EBROKENLINK" });
          continue;
        }
        if (s.isDirectory()) {
          const key = `${s.dev}:${s.ino}`;
          if (seenDirs.has(key)) continue; // a cycle
          seenDirs.add(key);
          visit(target, rel, true);
        } else if (s.isFile()) {
          const i = files.push(rel, s, target);
          if (!parallel) options.onFile?.(files, i);
        } else out.specials.push(rel);
      } else {
        out.specials.push(rel);
      }
    }
  };
  try {
    const rootStat = fs.statSync(base);
    seenDirs.add(`${rootStat.dev}:${rootStat.ino}`);
    visit(base, "", false);
    if (parallel) {
      if (helper) statInParallel(helper, files, toStat);
      else
        for (const i of toStat) {
          const s = fs.lstatSync(files.abs(i));
          files.set(i, s.size, s.mtimeMs, s.ctimeMs, s.ino, s.dev);
        }
      if (options.onFile) for (let i = 0; i < files.length; i++) options.onFile(files, i);
    }
  } finally {
    void helper?.terminate();
  }
  return out;
}

/** Files per block of the shared stat pass: each thread takes the next block not yet taken. */
const STAT_BLOCK = 512;
/** Fewer files than this are stat-ed on one thread: handing them over would cost more. */
const PARALLEL_STAT_MIN = 2 * STAT_BLOCK;

function startStatHelper(): Worker {
  // Shared memory: [0] the next block to take, [1] blocks done; then 5 facts per file. The helper
  // takes blocks like the main thread does; a file it cannot stat gets size -1 and the main thread
  // stats it again (and throws the error itself, as a walk on one thread would).
  const source = `
const fs = require("node:fs");
const { parentPort } = require("node:worker_threads");
parentPort.once("message", ({ control, facts, root, paths }) => {
  const c = new Int32Array(control);
  const f = new Float64Array(facts);
  // Paths relative to root ("/"-separated), or absolute (a followed link's target).
  const list = paths.split("\\0");
  const blocks = Math.ceil(list.length / ${STAT_BLOCK});
  for (let b = Atomics.add(c, 0, 1); b < blocks; b = Atomics.add(c, 0, 1)) {
    const end = Math.min(list.length, (b + 1) * ${STAT_BLOCK});
    for (let k = b * ${STAT_BLOCK}; k < end; k++) {
      try {
        const p = list[k];
        const s = fs.lstatSync(p.charCodeAt(0) === 47 ? p : root + "/" + p);
        f[5 * k] = s.size; f[5 * k + 1] = s.mtimeMs; f[5 * k + 2] = s.ctimeMs; f[5 * k + 3] = s.ino; f[5 * k + 4] = s.dev;
      } catch {
        f[5 * k] = -1;
      }
    }
    Atomics.add(c, 1, 1);
    Atomics.notify(c, 1);
  }
});`;
  const w = new Worker(source, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
  w.unref();
  return w;
}

/** Takes the stat facts of files `which` on this thread and the helper, block by block. */
function statInParallel(helper: Worker, files: FileTable, which: readonly number[]): void {
  if (which.length === 0) return;
  const control = new Int32Array(new SharedArrayBuffer(8));
  const facts = new Float64Array(new SharedArrayBuffer(8 * 5 * which.length));
  // The paths go over as one string, relative to the root where they can be (the strings kept).
  helper.postMessage({
    control: control.buffer,
    facts: facts.buffer,
    root: files.root,
    paths: which.map((i) => files.readPath(i)).join("\0"),
  });
  const blocks = Math.ceil(which.length / STAT_BLOCK);
  for (let b = Atomics.add(control, 0, 1); b < blocks; b = Atomics.add(control, 0, 1)) {
    const end = Math.min(which.length, (b + 1) * STAT_BLOCK);
    for (let k = b * STAT_BLOCK; k < end; k++) {
      const s = fs.lstatSync(files.abs(which[k]!));
      files.set(which[k]!, s.size, s.mtimeMs, s.ctimeMs, s.ino, s.dev);
    }
    Atomics.add(control, 1, 1);
  }
  // Wait for the blocks the helper took (none when it had not started yet).
  for (let done = Atomics.load(control, 1); done < blocks; done = Atomics.load(control, 1))
    Atomics.wait(control, 1, done, 1000);
  for (let k = 0; k < which.length; k++) {
    const size = facts[5 * k]!;
    // Files of the blocks this thread took are set already; the others still have size -1.
    if (files.size[which[k]!] !== -1) continue;
    if (size < 0) {
      const s = fs.lstatSync(files.abs(which[k]!));
      files.set(which[k]!, s.size, s.mtimeMs, s.ctimeMs, s.ino, s.dev);
    } else
      files.set(which[k]!, size, facts[5 * k + 1]!, facts[5 * k + 2]!, facts[5 * k + 3]!, facts[5 * k + 4]!);
  }
}

/** The same walk with an object per file (for trees of few files, e.g. a run's outputs). */
export function walkTree(
  root: string,
  options: Omit<WalkOptions, "onFile"> = {},
): Omit<WalkResult, "files"> & { files: WalkedFile[] } {
  const walked = walkFiles(root, options);
  return { ...walked, files: walked.files.rel.map((_, i) => walked.files.file(i)) };
}
