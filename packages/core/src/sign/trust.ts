// The trust policy: which public keys may sign runs (.track-run/trust.json).
import * as fs from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { UsageError } from "../errors.js";
import { validateDocument } from "../schema/validate.js";
import { readInputText, readJsonFile } from "../util/files.js";
import type { IdentityRule } from "./identity.js";
import { type PublicKeyInfo, parsePublicKey, readPublicKey } from "./keys.js";

export interface TrustedKey extends PublicKeyInfo {
  name?: string;
}

export interface TrustSettings {
  keys: TrustedKey[];
  identities: IdentityRule[];
}

export function readTrustFile(path: string): TrustSettings {
  const text = readInputText(path, `trust file "${path}"`, {
    fix: "list trusted keys and identities in .track-run/trust.json",
  });
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new UsageError("bad-trust", `trust file "${path}" is not JSON or YAML: ${(e as Error).message}`);
  }
  const trust = validateDocument("trust", doc, `trust file "${path}"`);
  const keys = (trust.keys ?? []).map((k, i) => {
    const where = `trust file "${path}" keys[${i}]`;
    const info = k.publicKey
      ? parsePublicKey(k.publicKey, where)
      : readPublicKey(resolve(dirname(path), k.path!));
    if (k.keyId && k.keyId !== info.keyId) {
      throw new UsageError(
        "trust-keyid-mismatch",
        `${where}: keyId ${k.keyId} is not the id of its key (${info.keyId})`,
      );
    }
    return k.name ? { ...info, name: k.name } : info;
  });
  return { keys, identities: trust.identities ?? [] };
}

export const DEFAULT_TRUST_FILE = ".track-run/trust.json";

/**
 * Trusted keys and identities as a command or an action reads them: each public key named, plus
 * the trust file (given, or .track-run/trust.json when present), plus a Sigstore trusted root.
 */
export function loadTrust(o: {
  trustedKeys?: readonly string[];
  trust?: string;
  trustedRoot?: string;
}): TrustSettings & { trustedRoot?: unknown } {
  const out: TrustSettings & { trustedRoot?: unknown } = {
    keys: (o.trustedKeys ?? []).map((k) => readPublicKey(k)),
    identities: [],
  };
  const file = o.trust || DEFAULT_TRUST_FILE;
  if (o.trust || fs.existsSync(file)) {
    const t = readTrustFile(file);
    out.keys.push(...t.keys);
    out.identities.push(...t.identities);
  }
  if (o.trustedRoot) out.trustedRoot = readJsonFile(o.trustedRoot, "trusted root");
  return out;
}
