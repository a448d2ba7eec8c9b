// Writes that never follow links. Folders that track-run writes into (a bag being fetched or made,
// the ledger, the cache) may hold names planted by someone else: a symbolic link at data/x.part, or
// a folder replaced by a link to /home. These helpers check every path component below a root
// before they make or write anything, create new files exclusively (O_CREAT|O_EXCL|O_NOFOLLOW,
// which also refuses a link, even a dangling one, at the final name), and never append through a
// link. All synchronous, so callers can use them anywhere.
//
// What they cannot do: Node has no openat(), so a component swapped for a link between the check
// and the write (a race by a local process that can write the folder) is not caught; the exclusive
// create still never writes through a link at the final name.
import * as fs from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { errnoCode, UsageError } from "../errors.js";

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_APPEND } = fs.constants;

/** Flags of an exclusive create that refuses a link at the final name. */
export const EXCLUSIVE_CREATE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/**
 * True when `path` is `root` or lies under it, decided by path.relative (never by a string
 * prefix, so "/a/bc" is not inside "/a/b"). Lexical: links are not resolved.
 */
export function isInside(root: string, path: string): boolean {
  const r = relative(resolve(root), resolve(path));
  return r === "" || !(r === ".." || r.startsWith(`..${sep}`) || isAbsolute(r));
}

/** The components of `path` below `root`; throws when `path` is not inside `root`. */
function componentsBelow(root: string, path: string): string[] {
  const abs = resolve(root, path);
  if (!isInside(root, abs))
    throw new UsageError("path-outside", `"${path}" is outside "${root}"; refusing to write there`);
  const r = relative(resolve(root), abs);
  return r === "" ? [] : r.split(sep);
}

/**
 * Refuses (UsageError "link-in-path") when any existing component of `path` below `root`, `path`
 * itself included, is a symbolic link, or when a component that has more below it is not a
 * folder; refuses a `path` outside `root` ("path-outside"). `root` itself is trusted as given.
 * Components that do not exist yet end the check: nothing below them can be a link.
 */
export function assertNoSymlinkBetween(root: string, path: string): void {
  const parts = componentsBelow(root, path);
  let cur = resolve(root);
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw e;
    }
    if (st.isSymbolicLink())
      throw new UsageError(
        "link-in-path",
        `"${cur}" is a symbolic link; track-run does not write through links under "${root}": remove it`,
      );
    if (i < parts.length - 1 && !st.isDirectory())
      throw new UsageError("not-a-folder", `"${cur}" is not a folder; remove it or choose another path`);
  }
}

/**
 * Makes the folders `root/rel` one component at a time (mkdir -p that never follows a link): the
 * existing components are checked first, each new folder is made only inside a folder that is
 * known to be real, and an existing component that is a link or not a folder is refused.
 * `rel` is relative ("" or "." for `root` itself). Returns the absolute path of the folder.
 */
export function mkdirNoFollow(root: string, rel: string, mode = 0o755): string {
  if (isAbsolute(rel)) throw new UsageError("path-outside", `"${rel}" must be a path relative to "${root}"`);
  const target = resolve(root, rel);
  assertNoSymlinkBetween(root, target);
  let cur = resolve(root);
  for (const part of componentsBelow(root, target)) {
    cur = join(cur, part);
    try {
      fs.mkdirSync(cur, { mode });
      continue;
    } catch (e) {
      if (errnoCode(e) !== "EEXIST") throw e;
    }
    // Made by someone else meanwhile, or there before: it must be a real folder.
    const st = fs.lstatSync(cur);
    if (st.isSymbolicLink())
      throw new UsageError(
        "link-in-path",
        `"${cur}" is a symbolic link; track-run does not write through links under "${root}": remove it`,
      );
    if (!st.isDirectory())
      throw new UsageError("not-a-folder", `"${cur}" is not a folder; remove it or choose another path`);
  }
  return cur;
}

/**
 * Creates `path` exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) and returns its descriptor. Fails with
 * EEXIST when anything is at `path`, a link (even a dangling one) included.
 */
export function openExclusive(path: string, mode = 0o644): number {
  return fs.openSync(path, EXCLUSIVE_CREATE, mode);
}

/**
 * Opens an existing regular file to append to it, refusing a link at `path` (O_NOFOLLOW: ELOOP)
 * and anything that is not a regular file (a FIFO, a device: "not-a-file").
 */
export function openAppendNoFollow(path: string): number {
  const fd = fs.openSync(path, O_WRONLY | O_APPEND | O_NOFOLLOW);
  try {
    if (!fs.fstatSync(fd).isFile())
      throw new UsageError("not-a-file", `"${path}" is not a regular file; remove it`);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Writes a new file exclusively (see openExclusive); a failed write leaves nothing behind. */
export function writeFileExclusive(path: string, data: string | Uint8Array, mode = 0o644): void {
  const fd = openExclusive(path, mode);
  try {
    fs.writeFileSync(fd, data);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(path, { force: true });
    throw e;
  }
  fs.closeSync(fd);
}

/**
 * Replaces `path` atomically: the data goes to a new, exclusively created temporary file beside
 * it, renamed over `path` (a rename replaces a link at `path`, never writes through it).
 */
export function replaceFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(path), `.${path.split(sep).pop()}.${process.pid}.${Date.now().toString(36)}.tmp`);
  writeFileExclusive(tmp, data, mode);
  try {
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * `rel` resolved under `root`, refusing a path that leads outside `root`, lexically ("..") or
 * through a symbolic link (the real path of an existing file is compared with the real path of
 * `root`). A path that does not exist is returned as is (reading it then reports it missing).
 */
export function resolveInside(
  root: string,
  rel: string,
): { ok: true; path: string } | { ok: false; reason: string } {
  if (isAbsolute(rel)) return { ok: false, reason: "an absolute path is not inside the folder" };
  const path = resolve(root, rel);
  if (!isInside(root, path)) return { ok: false, reason: "the path leads outside the folder" };
  let real: string;
  try {
    real = fs.realpathSync(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code === "ENOENT" || code === "ENOTDIR") return { ok: true, path };
    return { ok: false, reason: `the path cannot be resolved (${code ?? String(e)})` };
  }
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch {
    realRoot = resolve(root);
  }
  if (!isInside(realRoot, real)) return { ok: false, reason: "a symbolic link leads outside the folder" };
  return { ok: true, path: real };
}
