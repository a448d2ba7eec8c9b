// The trust policy: which public keys may sign runs (.track-run/trust.json).
import * as fs from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { fsInputError, UsageError } from "../errors.js";
import { validateDocument } from "../schema/validate.js";
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
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    throw fsInputError(
      `trust file "${path}"`,
      e,
      "list trusted keys and identities in .track-run/trust.json",
    );
  }
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
