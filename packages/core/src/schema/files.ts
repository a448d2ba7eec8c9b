// Documents that enter from files: read, parsed and validated, with errors naming the file and the fix.
import { existsSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { Policy } from "../__generated__/index.js";
import { UsageError } from "../errors.js";
import { readInputText, readJsonFile } from "../util/files.js";
import { validateDocument } from "./validate.js";

export { readJsonFile };

export const DEFAULT_POLICY = ".track-run/policy.yml";

/** The policy (`path`, or .track-run/policy.yml when present), validated; undefined when absent and not required. */
export function readPolicyFile(path: string | undefined, required = false): Policy | undefined {
  const file = path || DEFAULT_POLICY;
  if (!existsSync(file)) {
    if (path || required)
      throw new UsageError(
        "input-missing",
        `policy "${file}" does not exist; write the model's gate there (see docs/policy.md)`,
      );
    return undefined;
  }
  const text = readInputText(file, `policy "${file}"`);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new UsageError("bad-policy", `${file} is not valid YAML: ${(e as Error).message}`);
  }
  return validateDocument("policy", doc, file);
}
