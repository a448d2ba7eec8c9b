// Local signing keys: ECDSA P-256 (default) or Ed25519, PEM (PKCS#8 private, SPKI public).
// A key's id is the hex sha256 of its DER SPKI, so anyone holding the public key derives it.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { fsOutputError, UsageError } from "../errors.js";
import { checkOutputPath, readInputText } from "../util/files.js";

export type KeyAlgorithm = "p256" | "ed25519";

export interface PublicKeyInfo {
  key: KeyObject;
  keyId: string;
  algorithm: KeyAlgorithm;
  pem: string;
}

export interface PrivateKeyInfo extends PublicKeyInfo {
  privateKey: KeyObject;
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex");
}

function algorithmOf(key: KeyObject, source: string): KeyAlgorithm {
  if (key.asymmetricKeyType === "ed25519") return "ed25519";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "p256";
  throw new UsageError(
    "unsupported-key",
    `${source} is a ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ""} key; use ECDSA P-256 or Ed25519 (track-run keygen)`,
  );
}

function publicInfo(key: KeyObject, source: string): PublicKeyInfo {
  return {
    key,
    keyId: keyIdOf(key),
    algorithm: algorithmOf(key, source),
    pem: key.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** Generates a key pair and writes PREFIX.key (0600) and PREFIX.pub; neither may exist already. */
export function generateKeys(
  prefix: string,
  algorithm: KeyAlgorithm = "p256",
): { privateKey: string; publicKey: string; keyId: string } {
  const privPath = `${prefix}.key`;
  const pubPath = `${prefix}.pub`;
  for (const p of [privPath, pubPath]) {
    if (fs.existsSync(p))
      throw new UsageError("output-exists", `"${p}" already exists; choose another --out or remove it`);
  }
  const pair =
    algorithm === "ed25519"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const priv = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const pub = pair.publicKey.export({ type: "spki", format: "pem" }).toString();
  // Checked before any folder is made: a path on /proc or /sys is refused, not walked.
  checkOutputPath(privPath, `key "${privPath}"`, { parentMayBeMissing: true });
  const tmp = join(dirname(privPath), `.${process.pid}.key.tmp`);
  try {
    fs.mkdirSync(dirname(privPath) || ".", { recursive: true });
    fs.writeFileSync(tmp, priv, { mode: 0o600, flag: "wx" });
    fs.renameSync(tmp, privPath);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fsOutputError(`key "${privPath}"`, e);
  }
  try {
    fs.writeFileSync(pubPath, pub, { mode: 0o644 });
  } catch (e) {
    fs.rmSync(privPath, { force: true });
    fs.rmSync(pubPath, { force: true });
    throw fsOutputError(`key "${pubPath}"`, e);
  }
  return { privateKey: privPath, publicKey: pubPath, keyId: keyIdOf(pair.publicKey) };
}

/** A private key from PEM text; `source` names it in errors (never the key itself). */
export function parsePrivateKey(pem: string, source: string): PrivateKeyInfo {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new UsageError(
      "bad-key",
      `${source} is not a PEM private key (PKCS#8); make one with \`track-run keygen\``,
    );
  }
  return { ...publicInfo(createPublicKey(privateKey), source), privateKey };
}

export function readPrivateKey(path: string): PrivateKeyInfo {
  const pem = readInputText(path, `signing key "${path}"`, {
    fix: "make one with `track-run keygen --out PREFIX`",
  });
  return parsePrivateKey(pem, `signing key "${path}"`);
}

export function parsePublicKey(pem: string, source: string): PublicKeyInfo {
  try {
    return publicInfo(createPublicKey(pem), source);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError("bad-key", `${source} is not a PEM public key`);
  }
}

export function readPublicKey(path: string): PublicKeyInfo {
  const pem = readInputText(path, `public key "${path}"`);
  return parsePublicKey(pem, `public key "${path}"`);
}
