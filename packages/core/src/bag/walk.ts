// Walks a payload tree with stat facts per file (what Payload-Oxum and the stat cache need).
// Symbolic links are refused unless followed; fifos, sockets and devices are always refused.
// The files found are kept as columns (a path array and one number array per stat fact), not as an
// object each: a tree of many small files stays small in memory.
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";

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
  /** Subtrees the helper thread walked (parallelStat). */
  helperUnits?: number;
}

export interface WalkOptions {
  followSymlinks?: boolean;
  /** Names at the root (files or folders) left out, e.g. track-run's own .track-run folder. */
  ignore?: readonly string[];
  /** Told of each regular file as soon as it is found (in walk order), e.g. to start hashing it. */
  onFile?: (files: FileTable, i: number) => void;
  /**
   * Walk on two threads (for a walk that reads no file: a re-pin's walk is most of its time): the
   * folders are split into subtrees each thread reads and stats whole, the files of the folders
   * above them stat-ed by both in blocks. onFile is then told once the walk is done.
   */
  parallelStat?: boolean;
  /**
   * Take no stat facts of regular files (size -1, the rest 0): for a walk whose files are all read
   * at once, where the reader's open and fstat tell what is needed (see hashOne).
   */
  noStat?: boolean;
}

/** A folder's entries in the walk's order (walkSubtree, which the helper runs, keeps its own copy). */
const byName = (a: fs.Dirent, b: fs.Dirent) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Synchronous on purpose: for tens of thousands of files one thread of sync stats beats promises. */
export function walkFiles(root: string, options: WalkOptions = {}): WalkResult {
  const base = resolve(root);
  const out: WalkResult = { files: new FileTable(base), symlinks: [], specials: [], unreadable: [] };
  // Followed links are walked on one thread (a cycle is found against every folder seen).
  if (options.parallelStat && !options.followSymlinks) {
    fs.statSync(base);
    walkOnTwoThreads(base, options, out);
    if (options.onFile) for (let i = 0; i < out.files.length; i++) options.onFile(out.files, i);
    return out;
  }
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
    entries.sort(byName);
    for (const d of entries) {
      if (!relDir && options.ignore?.includes(d.name)) continue;
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      if (d.isDirectory()) {
        visit(`${absDir}/${d.name}`, rel, viaLink);
      } else if (d.isFile()) {
        if (parallel) {
          toStat.push(files.push(rel, UNKNOWN, viaLink ? `${absDir}/${d.name}` : undefined));
          if (!helper && toStat.length === PARALLEL_STAT_MIN) helper = startStatHelper();
        } else {
          const abs = `${absDir}/${d.name}`;
          const i = files.push(rel, options.noStat ? UNKNOWN : fs.lstatSync(abs), viaLink ? abs : undefined);
          options.onFile?.(files, i);
        }
      } else if (d.isSymbolicLink()) {
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
/** Fewer files than this are walked or stat-ed on one thread: handing them over would cost more. */
const PARALLEL_STAT_MIN = 2 * STAT_BLOCK;

/** A problem a walk reports, at its place in the walk: a link, a special file, a folder it cannot read. */
type Problem = { symlink: string } | { special: string } | { unreadable: string; code: string };

/** What a subtree's walk found: files in walk order with 5 stat facts each (size -1: stat again). */
interface Subtree {
  names: string[];
  facts: number[];
  problems: Problem[];
}

/**
 * Walks the subtree `rel` of `root` (the two-thread walk's unit), reading each folder and stat-ing
 * each regular file. Self-contained: the helper thread runs its source (walkSubtree.toString()).
 * A file it cannot stat gets size -1: the main thread stats it again, and throws what one thread would.
 */
function walkSubtree(fsm: typeof fs, root: string, rel: string, into: Subtree): void {
  const visit = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fsm.readdirSync(`${root}/${dir}`, { withFileTypes: true });
    } catch (e) {
      into.problems.push({ unreadable: dir, code: (e as NodeJS.ErrnoException).code ?? "EIO" });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of entries) {
      const r = `${dir}/${d.name}`;
      if (d.isDirectory()) visit(r);
      else if (d.isFile()) {
        into.names.push(r);
        let st: fs.Stats | undefined;
        try {
          st = fsm.lstatSync(`${root}/${r}`);
        } catch {}
        if (st) into.facts.push(st.size, st.mtimeMs, st.ctimeMs, st.ino, st.dev);
        else into.facts.push(-1, 0, 0, 0, 0);
      } else if (d.isSymbolicLink()) into.problems.push({ symlink: r });
      else into.problems.push({ special: r });
    }
  };
  visit(rel);
}

/** This many subtrees or more start the helper thread before any is walked. */
const MANY_UNITS = 16;

/**
 * The walk of a re-pin on two threads. The folders at the top are read here, down to the first
 * folder with two subfolders or more; those subfolders are the units, each walked whole by this
 * thread or the helper, whichever takes it first. The files above them are stat-ed after, in blocks.
 * Whatever happens to the helper (it cannot start, throws, dies), this thread walks what it left.
 */
function walkOnTwoThreads(base: string, options: WalkOptions, out: WalkResult): void {
  const { units, order } = planUnits(base, options);
  const threads: { helper?: Worker } = {};
  try {
    const walked = walkUnits(base, units, threads, out);
    const table = out.files;
    const { inline, again } = assemble(order, walked, out);
    if (inline.length >= PARALLEL_STAT_MIN) threads.helper ??= startStatHelper();
    if (threads.helper && inline.length >= PARALLEL_STAT_MIN) statInParallel(threads.helper, table, inline);
    else again.push(...inline);
    // A file gone or unreadable since its folder was read throws here, as on one thread.
    for (const i of again) {
      const st = fs.lstatSync(table.abs(i));
      table.set(i, st.size, st.mtimeMs, st.ctimeMs, st.ino, st.dev);
    }
  } finally {
    void threads.helper?.terminate();
  }
}

/** The folders at the top read down to the units: the walk's order of files, units and problems there. */
function planUnits(
  base: string,
  options: WalkOptions,
): { units: string[]; order: Array<string | number | Problem> } {
  const units: string[] = [];
  /** The walk in order: a file's relative path, a unit's number, or a problem. */
  const order: Array<string | number | Problem> = [];
  const plan = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(rel ? `${base}/${rel}` : base, { withFileTypes: true });
    } catch (e) {
      order.push({ unreadable: rel || ".", code: (e as NodeJS.ErrnoException).code ?? "EIO" });
      return;
    }
    if (!rel && options.ignore) entries = entries.filter((d) => !options.ignore!.includes(d.name));
    entries.sort(byName);
    const split = entries.filter((d) => d.isDirectory()).length >= 2;
    for (const d of entries) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        if (split) order.push(units.push(r) - 1);
        else plan(r);
      } else if (d.isFile()) order.push(r);
      else if (d.isSymbolicLink()) order.push({ symlink: r });
      else order.push({ special: r });
    }
  };
  plan("");
  return { units, order };
}

/**
 * Every unit walked, by this thread and the helper (started in `threads` once the walk proves large,
 * or at once for many units): each unit's files, facts and problems, by unit number.
 */
function walkUnits(
  base: string,
  units: readonly string[],
  threads: { helper?: Worker },
  out: WalkResult,
): Subtree[] {
  const walked = new Array<Subtree | undefined>(units.length);
  const control = new Int32Array(new SharedArrayBuffer(8));
  const channel = new MessageChannel();
  const walkHere = (u: number) => {
    const t: Subtree = { names: [], facts: [], problems: [] };
    walkSubtree(fs, base, units[u]!, t);
    walked[u] = t;
    return t.names.length;
  };
  const help = () => {
    threads.helper = startStatHelper();
    threads.helper?.postMessage(
      { kind: "walk", control: control.buffer, root: base, units, port: channel.port2 },
      [channel.port2],
    );
  };
  // Many subtrees: the helper starts at once (it takes a while to start); few, once they prove large.
  if (units.length >= MANY_UNITS) help();
  let files = 0;
  for (let u = Atomics.add(control, 0, 1); u < units.length; u = Atomics.add(control, 0, 1)) {
    files += walkHere(u);
    if (!threads.helper && files >= PARALLEL_STAT_MIN && u + 2 < units.length) help();
  }
  if (walked.includes(undefined)) {
    // The helper's units: told once it is done with them (control[1] = 1), or it is gone.
    const helper = threads.helper;
    while (Atomics.load(control, 1) === 0 && helper && helper.threadId !== -1)
      Atomics.wait(control, 1, 0, 200);
    const m = receiveMessageOnPort(channel.port1)?.message as HelperWalk | undefined;
    if (m?.units) {
      out.helperUnits = m.units.length;
      const names = m.names.split("\0");
      for (let k = 0, at = 0, p = 0; k < m.units.length; k++) {
        const [n, np] = [m.counts[2 * k]!, m.counts[2 * k + 1]!];
        const t: Subtree = {
          names: names.slice(at, at + n),
          facts: [],
          problems: m.problems.slice(p, p + np),
        };
        for (let f = 5 * at; f < 5 * (at + n); f++) t.facts.push(m.facts[f]!);
        walked[m.units[k]!] = t;
        at += n;
        p += np;
      }
    }
    // Any unit the helper did not hand back (it failed or died) is walked here.
    for (let u = 0; u < units.length; u++) if (!walked[u]) walkHere(u);
  }
  channel.port1.close();
  return walked as Subtree[];
}

/**
 * The walk's files and problems in its order: the top's, and each unit's at its place. Returns the
 * files still to stat: those above the units (`inline`), and those a unit's walk could not (`again`).
 */
function assemble(
  order: ReadonlyArray<string | number | Problem>,
  walked: readonly Subtree[],
  out: WalkResult,
): { inline: number[]; again: number[] } {
  const inline: number[] = [];
  const again: number[] = [];
  const report = (p: Problem) => {
    if ("symlink" in p) out.symlinks.push(p.symlink);
    else if ("special" in p) out.specials.push(p.special);
    else out.unreadable.push({ rel: p.unreadable, code: p.code });
  };
  const table = out.files;
  for (const item of order) {
    if (typeof item === "string") {
      inline.push(table.push(item, UNKNOWN));
      continue;
    }
    if (typeof item !== "number") {
      report(item);
      continue;
    }
    const t = walked[item]!;
    for (let k = 0; k < t.names.length; k++) {
      const f = 5 * k;
      const i = table.push(t.names[k]!, UNKNOWN);
      if (t.facts[f]! < 0) again.push(i);
      else table.set(i, t.facts[f]!, t.facts[f + 1]!, t.facts[f + 2]!, t.facts[f + 3]!, t.facts[f + 4]!);
    }
    for (const p of t.problems) report(p);
  }
  return { inline, again };
}

/** The helper's units, in the order it walked them: per unit, its files and problems counted. */
interface HelperWalk {
  units: number[];
  /** Per unit: files, problems. */
  counts: number[];
  names: string;
  facts: Float64Array;
  problems: Problem[];
}

/** The helper thread, or none where a worker cannot start (the walk then stays on this thread). */
function startStatHelper(): Worker | undefined {
  // Two tasks, each told by one message. "walk": units taken like the main thread takes them
  // (control[0] the next one), walked whole, all sent back in one message, then control[1] = 1
  // (also when it fails: the main thread then walks what it did not send). "stat": shared memory,
  // [0] the next block to take, [1] blocks done; then 5 facts per file. A file it cannot stat keeps
  // size -1 and the main thread stats it again (and throws the error itself, as a walk on one thread
  // would).
  const source = `
const fs = require("node:fs");
const { parentPort } = require("node:worker_threads");
const walkSubtree = ${walkSubtree.toString()};
parentPort.on("message", (m) => {
  if (m.kind === "walk") {
    const c = new Int32Array(m.control);
    try {
      const units = [];
      const counts = [];
      const t = { names: [], facts: [], problems: [] };
      for (let u = Atomics.add(c, 0, 1); u < m.units.length; u = Atomics.add(c, 0, 1)) {
        const [files, problems] = [t.names.length, t.problems.length];
        walkSubtree(fs, m.root, m.units[u], t);
        units.push(u);
        counts.push(t.names.length - files, t.problems.length - problems);
      }
      const facts = Float64Array.from(t.facts);
      m.port.postMessage({ units, counts, names: t.names.join("\\0"), facts, problems: t.problems }, [facts.buffer]);
    } catch {
      m.port.postMessage({});
    } finally {
      Atomics.store(c, 1, 1);
      Atomics.notify(c, 1);
    }
    return;
  }
  const { control, facts, root, paths } = m;
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
  try {
    const w = new Worker(source, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    w.unref();
    return w;
  } catch {
    return undefined; // e.g. a permission model without workers
  }
}

/** Takes the stat facts of files `which` on this thread and the helper, block by block. */
function statInParallel(helper: Worker, files: FileTable, which: readonly number[]): void {
  if (which.length === 0) return;
  const control = new Int32Array(new SharedArrayBuffer(8));
  // Sizes -1 until taken: a block the helper did not finish (it died) is stat-ed here after.
  const facts = new Float64Array(new SharedArrayBuffer(8 * 5 * which.length)).fill(-1);
  // The paths go over as one string, relative to the root where they can be (the strings kept).
  helper.postMessage({
    kind: "stat",
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
  // Wait for the blocks the helper took (none when it had not started yet), unless it is gone.
  for (
    let done = Atomics.load(control, 1);
    done < blocks && helper.threadId !== -1;
    done = Atomics.load(control, 1)
  )
    Atomics.wait(control, 1, done, 200);
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
