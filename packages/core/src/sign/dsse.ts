// DSSE v1 (secure-systems-lab/dsse protocol.md): PAE, signing and verification.
import { sign, verify } from "node:crypto";
import type { PrivateKeyInfo, PublicKeyInfo } from "./keys.js";

export const INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
export function pae(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/** Signs PAE bytes: ECDSA P-256 with SHA-256 (DER, as Sigstore uses), or Ed25519. */
export function signPae(key: PrivateKeyInfo, data: Buffer): Buffer {
  return key.algorithm === "ed25519"
    ? sign(null, data, key.privateKey)
    : sign("sha256", data, key.privateKey);
}

/** Verifies a signature over PAE bytes; ECDSA accepts DER or raw r||s (the DSSE reference's encoding). */
export function verifyPae(key: PublicKeyInfo, data: Buffer, signature: Buffer): boolean {
  try {
    if (key.algorithm === "ed25519") return verify(null, data, key.key, signature);
    if (
      signature.length === 64 &&
      verify("sha256", data, { key: key.key, dsaEncoding: "ieee-p1363" }, signature)
    )
      return true;
    return verify("sha256", data, key.key, signature);
  } catch {
    return false;
  }
}

/** Decodes standard or URL-safe base64 (DSSE verifiers must accept both); undefined when it is neither. */
export function decodeBase64(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}
