// Opening a ledger by URI: `dir:PATH`, or `git:https://HOST/OWNER/REPO.git#BRANCH`.
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { DirLedger } from "./dir.js";
import { GitLedger, type GitLedgerOptions, parseGitLedgerUri } from "./git.js";
import type { LedgerStore } from "./types.js";

/**
 * Opens a ledger's storage by URI (written through a bare cache repository under `git.cacheDir` for
 * git:, pushed with `git.token`). Commands read it only through the verified reader (reader.ts).
 */
export function openLedger(uri: string, git?: GitLedgerOptions): LedgerStore {
  if (uri.startsWith("dir:") && uri.length > 4) return new DirLedger(uri.slice(4));
  if (uri.startsWith("git:")) {
    const { url, branch } = parseGitLedgerUri(uri);
    return new GitLedger(url, branch, git ?? { cacheDir: join(".track-run", "cache") });
  }
  throw new UsageError(
    "bad-ledger",
    `ledger "${uri}" is not a ledger URI: use dir:PATH (default dir:.track-run/ledger) or git:https://HOST/OWNER/REPO.git#BRANCH`,
  );
}
