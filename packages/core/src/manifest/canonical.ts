// Canonical JSON (RFC 8785, JCS) and the digests computed over it.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** The RFC 8785 canonical form of a JSON value. */
export function canonicalJson(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new Error("value has no JSON form");
  return s;
}

/** "sha256:<hex>" of a value's canonical JSON. */
export function canonicalDigest(value: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`;
}
