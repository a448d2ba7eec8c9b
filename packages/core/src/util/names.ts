// Names are identifiers, never paths. Run ids, model names and data names become folder and file
// names in the ledger, the work folder and the cache, so every one is checked against one pattern
// wherever it enters (a flag, an argument, an action input, a file) and again where core turns it
// into a path. Output names are relative paths inside the outputs folder and have their own form.
// docs/ledger.md ("Names") describes both.
import { UsageError } from "../errors.js";

/**
 * The form of a run id, a model name and a data name: letters, digits, ".", "_" and "-", starting
 * with a letter or digit, 1 to 128 characters. The same pattern is in schemas/*.schema.json.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The longest name, in characters. */
export const NAME_MAX_LENGTH = 128;

/** What a name may be, in words (the fix every refusal gives). */
export const NAME_RULE =
  "use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters";

export type NameKind = "run" | "model" | "data";

const NOUN: Record<NameKind, string> = { run: "run id", model: "model name", data: "data name" };

/** True when `value` is a run id, model name or data name (they share one form). */
export function isName(value: unknown): value is string {
  return typeof value === "string" && NAME_PATTERN.test(value);
}

/**
 * A value as the user wrote it, quoted and escaped for one line of an error message; a long one
 * is cut, with its length.
 */
export function quoteInput(value: unknown): string {
  const text = typeof value === "string" ? value : String(value);
  if (text.length <= 64) return JSON.stringify(text);
  return `${JSON.stringify(`${text.slice(0, 48)}…`)} (${text.length} characters)`;
}

/**
 * Returns `value` when it is a `kind` name; otherwise throws a UsageError (exit 2) naming the input
 * as `where` says it (a flag such as "--model", an argument such as "promote RUN", an action input
 * such as "input model", a file and key) and the allowed form:
 *   --model "../../x" is not a model name: use letters, digits, '.', '_' and '-', …
 */
export function assertName(kind: NameKind, value: string, where: string): string {
  if (isName(value)) return value;
  throw new UsageError(
    `bad-${kind}-name`,
    `${where} ${quoteInput(value)} is not a ${NOUN[kind]}: ${NAME_RULE}`,
  );
}

/** The longest output path, in characters, and the longest part of one, in UTF-8 bytes. */
export const OUTPUT_PATH_MAX_LENGTH = 4096;
export const OUTPUT_PART_MAX_BYTES = 255;

/** What an output name may be, in words. */
export const OUTPUT_PATH_RULE =
  "an output name is a relative path inside the outputs folder: parts separated by '/', none empty, '.' or '..', no leading '/', no '\\', no drive letter, no control characters";

/**
 * Why `value` is not an output name (a relative path such as "model/weights.bin"), in words that
 * follow "it" ("is an absolute path"), or undefined when it is one. Each "/"-separated part is a file or folder name: not empty, not "." or "..",
 * at most 255 bytes, without "\", NUL or other control characters; the whole is not absolute, has
 * no drive letter ("C:") and is at most 4096 characters.
 */
export function outputPathProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "is not a string";
  if (value.length === 0) return "is empty";
  if (value.length > OUTPUT_PATH_MAX_LENGTH) return `is longer than ${OUTPUT_PATH_MAX_LENGTH} characters`;
  if (value.startsWith("/")) return "is an absolute path";
  if (/^[A-Za-z]:/.test(value)) return "starts with a drive letter";
  if (value.includes("\\")) return "has a backslash (a Windows separator)";
  if (/[\u0000-\u001f\u007f]/.test(value)) return "has a control character";
  for (const part of value.split("/")) {
    if (part === "") return "has an empty part ('//' or a trailing '/')";
    if (part === "." || part === "..") return `has a '${part}' part`;
    if (Buffer.byteLength(part, "utf8") > OUTPUT_PART_MAX_BYTES)
      return `has a part longer than ${OUTPUT_PART_MAX_BYTES} bytes`;
  }
  return undefined;
}

/** True when `value` is an output name (see outputPathProblem). */
export function isOutputPath(value: unknown): value is string {
  return outputPathProblem(value) === undefined;
}

/** Returns `value` when it is an output name; otherwise throws a UsageError naming `where` and the form. */
export function assertOutputPath(value: string, where: string): string {
  const problem = outputPathProblem(value);
  if (problem === undefined) return value;
  throw new UsageError(
    "bad-output-name",
    `${where} ${quoteInput(value)} is not an output name: it ${problem}; ${OUTPUT_PATH_RULE}`,
  );
}
