// Files a user named: read with a bound (never a device, a pipe or a socket), written by a
// temporary name in the same folder, with errors naming the file and the fix. Light: no schema here.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { errnoCode, fsInputError, fsOutputError, UsageError } from "../errors.js";

/** The most a configuration, policy, key, trust file, bundle or manifest may hold. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** Pseudo file systems: nothing track-run reads or writes lives there. */
const SPECIAL_ROOTS = ["/proc", "/sys", "/dev"];

function underSpecialRoot(abs: string): string | undefined {
  return SPECIAL_ROOTS.find((r) => abs === r || abs.startsWith(`${r}/`));
}

/**
 * The bytes of the file `path` (`what` names it as the user knows it: `policy "p.yml"`). Refuses
 * what is not a regular file (a device such as /dev/zero, a FIFO, a socket) without blocking on
 * it, and a file larger than `maxBytes`; every failure is a UsageError (exit 2) naming the file.
 */
export function readInputFile(
  path: string,
  what: string,
  options: { fix?: string; maxBytes?: number } = {},
): Buffer {
  const max = options.maxBytes ?? MAX_INPUT_BYTES;
  const tail = options.fix ? `; ${options.fix}` : "";
  let fd: number;
  try {
    // Non-blocking: opening a FIFO with no writer returns at once instead of waiting forever.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw fsInputError(what, e, options.fix);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory())
      throw new UsageError("input-is-directory", `${what} is a folder, a file was expected${tail}`);
    if (!st.isFile())
      throw new UsageError(
        "input-not-file",
        `${what} is not a regular file (a device, pipe or socket); give a file${tail}`,
      );
    if (st.size > max)
      throw new UsageError("input-too-large", `${what} is larger than ${max} bytes; give a smaller file`);
    const chunks: Buffer[] = [];
    let total = 0;
    // Read to the end (files in /proc say size 0), never past the bound.
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, max + 1 - total));
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > max)
        throw new UsageError("input-too-large", `${what} is larger than ${max} bytes; give a smaller file`);
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw fsInputError(what, e, options.fix);
  } finally {
    fs.closeSync(fd);
  }
}

/** readInputFile as UTF-8 text. */
export function readInputText(path: string, what: string, options: { fix?: string; maxBytes?: number } = {}) {
  return readInputFile(path, what, options).toString("utf8");
}

export function readJsonFile(path: string, what: string): unknown {
  const text = readInputText(path, `${what} "${path}"`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError("bad-json", `${what} "${path}" is not JSON: ${(e as Error).message}`);
  }
}

/**
 * Checks a path the user named for a new file or folder before any work starts: its folder exists
 * and is a folder, it is not on /proc, /sys or /dev, and the path itself is not a folder (unless
 * `folder` says a new folder is wanted, then it must not exist at all). `what` names it: `--out "x"`.
 */
export function checkOutputPath(
  path: string,
  what: string,
  options: { folder?: boolean; parentMayBeMissing?: boolean } = {},
): void {
  const abs = resolve(path);
  const special = underSpecialRoot(abs);
  if (special)
    throw new UsageError(
      "output-special",
      `${what} is under ${special}, a system folder, not a place for files; choose another path`,
    );
  // The folder it goes in (or, when folders are made on the way, the nearest one that exists).
  let parent = dirname(abs);
  let st: fs.Stats | undefined;
  for (;;) {
    try {
      st = fs.statSync(parent);
      break;
    } catch (e) {
      const code = errnoCode(e);
      if (code === "ENOENT" && options.parentMayBeMissing && dirname(parent) !== parent) {
        parent = dirname(parent);
        continue;
      }
      if (code === "ENOENT")
        throw new UsageError(
          "output-folder-missing",
          `${what}: the folder "${parent}" does not exist; make it first`,
        );
      if (code === "ENOTDIR")
        throw new UsageError("output-folder-not-folder", `${what}: a part of the path is not a folder`);
      throw fsOutputError(what, e);
    }
  }
  if (!st.isDirectory())
    throw new UsageError("output-folder-not-folder", `${what}: "${parent}" is not a folder`);
  if (parent !== dirname(abs)) return;
  let target: fs.Stats | undefined;
  try {
    target = fs.lstatSync(abs);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw fsOutputError(what, e);
  }
  if (target?.isDirectory() && !options.folder)
    throw new UsageError("output-is-directory", `${what} is a folder; give a file path`);
  if (target && options.folder)
    throw new UsageError("output-exists", `${what} already exists; choose a new path or remove it`);
  if (target && !target.isFile() && !target.isSymbolicLink())
    throw new UsageError("output-not-file", `${what} is not a regular file; give a file path`);
}

/**
 * Writes `text` to `path` by a temporary name beside it (made exclusively) and a rename: a reader
 * sees the old file or the new one, never half. Whatever fails, the temporary file is removed and
 * the error names `what` (exit 2): a missing folder, a full disk, a read-only file system.
 */
export function writeOutputFile(path: string, text: string | Uint8Array, what: string): void {
  checkOutputPath(path, what);
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { flag: "wx" });
    fs.renameSync(tmp, abs);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fsOutputError(what, e);
  }
}

/** Whether a process with this id is alive on this machine. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}

const PARTIAL = /^\.(.+)\.(\d+)\.[0-9a-f]+\.partial$/;

/**
 * A sibling temporary name for building `target` (a folder or a file), renamed into place when
 * complete: `.NAME.PID.RANDOM.partial`. The process id in the name lets the next command tell a
 * leftover of a killed process from work in progress: leftovers in the same folder whose process
 * is gone are removed here, before the new one is named.
 */
export function partialSibling(target: string): string {
  const dir = dirname(target);
  removeDeadPartials(dir);
  return join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.partial`);
}

/** Removes `.NAME.PID.RANDOM.partial` entries of `dir` whose process is no longer running. */
export function removeDeadPartials(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = PARTIAL.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || processAlive(pid)) continue;
    try {
      fs.rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Not ours to fight over: a leftover that cannot be removed stays.
    }
  }
  return removed;
}

/**
 * Why `path` cannot be a folder that a command fills (undefined when it can): it must be new (its
 * nearest existing parent a folder, not on /proc, /sys or /dev) or an empty folder. `flag` names
 * it: `--outputs "out" is not empty; give a new or empty folder`.
 */
export function newOrEmptyFolderProblem(path: string, flag: string): string | undefined {
  const what = `${flag} "${path}"`;
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT" && errnoCode(e) !== "ENOTDIR") return fsInputError(what, e).message;
    try {
      checkOutputPath(path, what, { folder: true, parentMayBeMissing: true });
      return undefined;
    } catch (c) {
      return c instanceof Error ? c.message : String(c);
    }
  }
  if (!st.isDirectory()) return `${what} is not a folder; give a new or empty folder`;
  if (underSpecialRoot(resolve(path))) return `${what} is a system folder; give a new or empty folder`;
  try {
    if (fs.readdirSync(path).length > 0) return `${what} is not empty; give a new or empty folder`;
  } catch (e) {
    return fsInputError(what, e).message;
  }
  return undefined;
}
