// Walks a payload tree with stat facts per file (what Payload-Oxum and the stat cache need).
// Symbolic links are refused unless followed; fifos, sockets and devices are always refused.
import * as fs from "node:fs";
import { join } from "node:path";

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

export interface WalkResult {
  files: WalkedFile[];
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
  onFile?: (f: WalkedFile) => void;
}

/** Synchronous on purpose: for tens of thousands of files one thread of sync stats beats promises. */
export function walkTree(root: string, options: WalkOptions = {}): WalkResult {
  const out: WalkResult = { files: [], symlinks: [], specials: [], unreadable: [] };
  const seenDirs = new Set<string>();
  const visit = (absDir: string, relDir: string) => {
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
      const abs = join(absDir, d.name);
      if (d.isDirectory()) {
        if (options.skip?.(rel, true)) continue;
        visit(abs, rel);
      } else if (d.isFile()) {
        if (options.skip?.(rel, false)) continue;
        const s = fs.lstatSync(abs);
        const f: WalkedFile = {
          rel,
          abs,
          size: s.size,
          mtimeMs: s.mtimeMs,
          ctimeMs: s.ctimeMs,
          ino: s.ino,
          dev: s.dev,
        };
        out.files.push(f);
        options.onFile?.(f);
      } else if (d.isSymbolicLink()) {
        if (options.skip?.(rel, false)) continue;
        if (!options.followSymlinks) {
          out.symlinks.push(rel);
          continue;
        }
        let s: fs.Stats;
        let target: string;
        try {
          target = fs.realpathSync(abs);
          s = fs.statSync(target);
        } catch {
          out.unreadable.push({ rel, code: "EBROKENLINK" });
          continue;
        }
        if (s.isDirectory()) {
          const key = `${s.dev}:${s.ino}`;
          if (seenDirs.has(key)) continue; // a cycle
          seenDirs.add(key);
          visit(target, rel);
        } else if (s.isFile()) {
          const f: WalkedFile = {
            rel,
            abs: target,
            size: s.size,
            mtimeMs: s.mtimeMs,
            ctimeMs: s.ctimeMs,
            ino: s.ino,
            dev: s.dev,
          };
          out.files.push(f);
          options.onFile?.(f);
        } else out.specials.push(rel);
      } else {
        out.specials.push(rel);
      }
    }
  };
  const rootStat = fs.statSync(root);
  seenDirs.add(`${rootStat.dev}:${rootStat.ino}`);
  visit(root, "");
  return out;
}
