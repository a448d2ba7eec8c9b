import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import { createHoleyBag, parseRemoteList } from "../src/bag/index.js";
import { TrackRunError } from "../src/errors.js";

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed after the test. */
export function tempDir(prefix = "track-run-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Writes files (path -> content) under root. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content);
  }
}

/** A fixed identity for the commits tests make. */
export const gitEnv: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@e",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@e",
};

/** Runs git in `dir` with the test identity; its stdout, or an error with its stderr. */
export function git(dir: string, ...args: string[]): string {
  const r = spawnSync("git", args, { cwd: dir, env: gitEnv, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Makes `dir` a git repository (when it is not one yet) with everything in it committed. */
export function commitAll(dir: string, message = "test"): void {
  if (!existsSync(join(dir, ".git"))) git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
}

/** The TrackRunError a call fails with; fails the test when the call succeeds or throws anything else. */
export async function failure(p: Promise<unknown>): Promise<TrackRunError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TrackRunError) return e;
    throw e;
  }
  throw new Error("expected the call to fail with a TrackRunError, but it succeeded");
}

/** A holey bag at `out` whose one payload file, data/rows.csv, is `body` served at `url`. */
export function holeyBagOf(url: string, body: Buffer | string, out: string): void {
  const bytes = Buffer.from(body);
  createHoleyBag(
    parseRemoteList(
      JSON.stringify([
        {
          url,
          length: bytes.length,
          path: "rows.csv",
          sha256: createHash("sha256").update(bytes).digest("hex"),
        },
      ]),
      "list",
    ),
    out,
  );
}
