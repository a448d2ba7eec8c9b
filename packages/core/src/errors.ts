/**
 * Errors people can act on. Every error track-run raises on purpose is a TrackRunError with a
 * stable string `code` and an exit code class:
 *  - "usage": bad usage or unreadable input (exit 2), message names the input and the fix;
 *  - "check": a check ran and failed (exit 1): invalid bag, bad signature, gate failed.
 * Anything else that escapes is a bug.
 */
export type ErrorKind = "usage" | "check";

export class TrackRunError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  /** Extra lines (one per problem) shown under the message. */
  readonly details: readonly string[];

  constructor(
    code: string,
    message: string,
    options: { kind?: ErrorKind; cause?: unknown; details?: readonly string[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TrackRunError";
    this.code = code;
    this.kind = options.kind ?? "usage";
    this.details = options.details ?? [];
  }

  get exitCode(): 1 | 2 {
    return this.kind === "usage" ? 2 : 1;
  }
}

/** Bad usage or unreadable input: exit 2. */
export class UsageError extends TrackRunError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(code, message, { ...options, kind: "usage" });
    this.name = "UsageError";
  }
}

/** A check ran and failed: exit 1. */
export class CheckFailedError extends TrackRunError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(code, message, { ...options, kind: "check" });
    this.name = "CheckFailedError";
  }
}

export function isTrackRunError(e: unknown): e is TrackRunError {
  return e instanceof TrackRunError;
}

/** The errno code of a Node system error, if any. */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string"
    ? e.code
    : undefined;
}

/**
 * Turns a file-system error about `what` (the input as the user wrote it) into a UsageError
 * that says what is wrong in words, not errno.
 */
export function fsInputError(what: string, e: unknown, fix?: string): TrackRunError {
  const code = errnoCode(e);
  const tail = fix ? `; ${fix}` : "";
  switch (code) {
    case "ENOENT":
      return new UsageError("input-missing", `${what} does not exist${tail}`, { cause: e });
    case "EACCES":
    case "EPERM":
      return new UsageError("input-unreadable", `${what} cannot be read (permission denied)${tail}`, {
        cause: e,
      });
    case "ENOTDIR":
      return new UsageError("input-not-directory", `${what}: a part of the path is not a folder${tail}`, {
        cause: e,
      });
    case "EISDIR":
      return new UsageError("input-is-directory", `${what} is a folder, a file was expected${tail}`, {
        cause: e,
      });
    default:
      return new UsageError(
        "input-unreadable",
        `${what} cannot be read: ${e instanceof Error ? e.message : String(e)}${tail}`,
        {
          cause: e,
        },
      );
  }
}

/** What an errno means to a person, for writes. */
const WRITE_WORDS: Record<string, string> = {
  ENOSPC: "no space is left on the device; free some space or choose another place",
  EDQUOT: "the disk quota is used up; free some space or choose another place",
  EROFS: "the file system is read-only; choose another place",
  EACCES: "permission denied; choose a folder you can write",
  EPERM: "permission denied; choose a folder you can write",
  ENOENT: "its folder does not exist; make it first",
  ENOTDIR: "a part of the path is not a folder",
  EISDIR: "it is a folder; give a file path",
  EEXIST: "it already exists; choose a new path or remove it",
  ENAMETOOLONG: "the name is too long; choose a shorter path",
  ELOOP: "the path has too many symbolic links",
  EXDEV: "it is on another file system than its temporary file",
  EMFILE: "too many files are open; retry with fewer at a time",
  EIO: "the device reported an input/output error",
};

/** Turns a file-system error while writing `what` into a UsageError (exit 2) naming it and the fix. */
export function fsOutputError(what: string, e: unknown): TrackRunError {
  if (isTrackRunError(e)) return e;
  const code = errnoCode(e);
  const words = (code && WRITE_WORDS[code]) ?? (e instanceof Error ? e.message : String(e));
  return new UsageError("output-unwritable", `${what} cannot be written: ${words}`, { cause: e });
}

/**
 * The last line of defence at the command's edge: a Node system error (it has an errno `code`
 * and a `syscall`) that no caller mapped becomes a UsageError naming the path it was about;
 * anything else is left as it is (a bug).
 */
export function systemErrorAsUsage(e: unknown): TrackRunError | undefined {
  if (isTrackRunError(e)) return e;
  const code = errnoCode(e);
  if (!code || !/^E[A-Z]+$/.test(code) || typeof e !== "object" || e === null) return undefined;
  const o = e as { path?: unknown; dest?: unknown; syscall?: unknown };
  const path = typeof o.path === "string" ? o.path : undefined;
  const syscall = typeof o.syscall === "string" ? o.syscall : "access";
  const what = path ? `"${path}"` : "a file";
  const words =
    code === "ENOENT"
      ? "it (or its folder) does not exist"
      : (WRITE_WORDS[code] ?? (e instanceof Error ? e.message : code));
  return new UsageError("system-error", `${what} (${syscall}) failed: ${words}`, { cause: e });
}
