// Reading a JSON file that a user named, with errors naming it and the fix. Light: no schema here.
import { readFileSync } from "node:fs";
import { fsInputError, UsageError } from "../errors.js";

export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw fsInputError(`${what} "${path}"`, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError("bad-json", `${what} "${path}" is not JSON: ${(e as Error).message}`);
  }
}
