// Where an action keeps track-run's cache, and how it reaches a git: ledger (the github-token input).
import { homedir } from "node:os";
import { join } from "node:path";
import * as core from "@actions/core";
import type { GitLedgerOptions } from "@track-run/core/ledger";

export const defaultCacheDir = () => process.env.TRACK_RUN_CACHE ?? join(homedir(), ".cache", "track-run");

export function ledgerOptions(cacheDir = defaultCacheDir()): GitLedgerOptions {
  const token = core.getInput("github-token");
  return { cacheDir, ...(token ? { token } : {}) };
}
