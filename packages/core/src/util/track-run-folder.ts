// The .track-run folder of a repository holds files that belong in the repository (trust.json,
// policy.yml) beside files that must never be committed (the private signing key) or that are
// this machine's own (run folders, caches, a local ledger). Whatever makes one of those writes a
// .gitignore there first, so `git add -A` cannot stage a private key.
import * as fs from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/** What .track-run/.gitignore holds: the folders that stay on this machine. */
export const TRACK_RUN_GITIGNORE = `# Written by track-run. Commit trust.json and policy.yml; never these:
# keys/ holds the private signing key; work/, cache/ and a local ledger/ are this machine's own.
keys/
work/
cache/
ledger/
`;

/**
 * Makes `folder` (a .track-run folder) when missing and writes its .gitignore when it has none;
 * an existing .gitignore is left as it is. True when it wrote one.
 */
export function protectTrackRunFolder(folder: string): boolean {
  const file = join(folder, ".gitignore");
  fs.mkdirSync(folder, { recursive: true });
  try {
    fs.writeFileSync(file, TRACK_RUN_GITIGNORE, { flag: "wx" });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

/** The .track-run folder that `path` lies in (the nearest ancestor so named), if any. */
export function trackRunFolderOf(path: string): string | undefined {
  for (let p = resolve(path); ; p = dirname(p)) {
    if (basename(p) === ".track-run") return p;
    if (dirname(p) === p) return undefined;
  }
}
