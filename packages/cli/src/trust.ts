// Trust, policy and ledger as the commands read them from flags and the project's files.
import { existsSync, readFileSync } from "node:fs";
import type { Policy } from "@track-run/core";
import { fsInputError, UsageError } from "@track-run/core/errors";
import type { GitLedgerOptions, LedgerStore } from "@track-run/core/ledger";
import type { TrustSettings } from "@track-run/core/sign";
import { parse as parseYaml } from "yaml";
import { cacheDirFor } from "./commands/bag.js";

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

/** Trusted keys and identities: each trusted public key given, and the trust file (given, or .track-run/trust.json when present). */
export async function readTrust(o: {
  trustedKeys?: string[];
  trust?: string;
  trustedRoot?: string;
}): Promise<TrustSettings & { trustedRoot?: unknown }> {
  const { readPublicKey, readTrustFile } = await import("@track-run/core/sign");
  const out: TrustSettings & { trustedRoot?: unknown } = {
    keys: (o.trustedKeys ?? []).map((k) => readPublicKey(k)),
    identities: [],
  };
  const file = o.trust ?? ".track-run/trust.json";
  if (o.trust !== undefined || existsSync(file)) {
    const t = readTrustFile(file);
    out.keys.push(...t.keys);
    out.identities.push(...t.identities);
  }
  if (o.trustedRoot) out.trustedRoot = readJsonFile(o.trustedRoot, "trusted root");
  return out;
}

/** The policy (given, or .track-run/policy.yml when present), validated. */
export async function readPolicy(path: string | undefined, required = false): Promise<Policy | undefined> {
  const file = path ?? ".track-run/policy.yml";
  if (!existsSync(file)) {
    if (path || required)
      throw new UsageError(
        "input-missing",
        `policy "${file}" does not exist; write the model's gate there (see docs/policy.md)`,
      );
    return undefined;
  }
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError("bad-policy", `${file} is not valid YAML: ${(e as Error).message}`);
  }
  const { validateDocument } = await import("@track-run/core/schema");
  return validateDocument("policy", doc, file);
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
