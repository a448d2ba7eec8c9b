// Trust, policy and ledger as the commands read them from flags and the project's files.
import type { Policy } from "@track-run/core";
import type { GitLedgerOptions, LedgerReader, LedgerStore, RunIndex } from "@track-run/core/ledger";
import type { TrustSettings } from "@track-run/core/sign";
import { cacheDirFor } from "./commands/bag.js";

export { readJsonFile } from "@track-run/core/files";

/** Trusted keys and identities: each trusted public key given, and the trust file (given, or .track-run/trust.json when present). */
export async function readTrust(o: {
  trustedKeys?: string[];
  trust?: string;
  trustedRoot?: string;
}): Promise<TrustSettings & { trustedRoot?: unknown }> {
  const { loadTrust } = await import("@track-run/core/sign");
  return loadTrust(o);
}

/** The policy (given, or .track-run/policy.yml when present), validated. */
export async function readPolicy(path: string | undefined, required = false): Promise<Policy | undefined> {
  const { readPolicyFile } = await import("@track-run/core/schema");
  return readPolicyFile(path, required);
}

/** How a git: ledger is reached from here: the cache folder, and GITHUB_TOKEN or TRACK_RUN_GIT_TOKEN to push. */
export function gitLedgerOptions(): GitLedgerOptions {
  const token = process.env.TRACK_RUN_GIT_TOKEN ?? process.env.GITHUB_TOKEN;
  return { cacheDir: cacheDirFor(), ...(token ? { token } : {}) };
}

/** The ledger: dir: or git:. */
export async function ledgerFor(uri: string): Promise<LedgerStore> {
  const { openLedger } = await import("@track-run/core/ledger");
  return openLedger(uri, gitLedgerOptions());
}

/** The local index of the ledger's verified records, under the cache folder (none where it cannot be). */
export async function indexFor(store: LedgerStore): Promise<RunIndex | undefined> {
  const { openRunIndex } = await import("@track-run/core/ledger");
  return openRunIndex(cacheDirFor(), store.identity);
}

/** The ledger at one snapshot, read through the verified reader with this trust and the local index. */
export async function readerFor(
  uri: string,
  trust: TrustSettings & { trustedRoot?: unknown },
): Promise<LedgerReader> {
  const { LedgerReader } = await import("@track-run/core/ledger");
  const store = await ledgerFor(uri);
  const index = await indexFor(store);
  return LedgerReader.open(store, trust, index ? { index } : {});
}
