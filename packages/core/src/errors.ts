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
