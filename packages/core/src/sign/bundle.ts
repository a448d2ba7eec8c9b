// Signing a statement into a DSSE envelope stored as a Sigstore bundle v0.3 (key-signed: the
// verification material is the key's id as hint). An unsigned record is a DSSE envelope with no
// signature, written only on request and recorded as such.
import { bundleToJSON, toDSSEBundle } from "@sigstore/bundle";
import { canonicalJson } from "../manifest/canonical.js";
import { INTOTO_PAYLOAD_TYPE, pae, signPae } from "./dsse.js";
import type { PrivateKeyInfo } from "./keys.js";
import type { Statement } from "./statement.js";

export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

export type SerializedBundle = ReturnType<typeof bundleToJSON>;

export interface UnsignedEnvelope {
  payloadType: string;
  payload: string;
  signatures: [];
}

/** The statement's payload bytes: RFC 8785 canonical JSON. */
export function statementPayload(statement: Statement): Buffer {
  return Buffer.from(canonicalJson(statement), "utf8");
}

export function signStatement(statement: Statement, key: PrivateKeyInfo): SerializedBundle {
  const payload = statementPayload(statement);
  const signature = signPae(key, pae(INTOTO_PAYLOAD_TYPE, payload));
  const bundle = toDSSEBundle({
    artifact: payload,
    artifactType: INTOTO_PAYLOAD_TYPE,
    signature,
    keyHint: key.keyId,
  });
  const json = bundleToJSON(bundle);
  // The envelope's signature carries the key id too, as DSSE verifiers expect.
  const env = (json as { dsseEnvelope?: { signatures: Array<{ keyid: string }> } }).dsseEnvelope;
  if (env) for (const s of env.signatures) s.keyid = key.keyId;
  return json;
}

export function unsignedEnvelope(statement: Statement): UnsignedEnvelope {
  return {
    payloadType: INTOTO_PAYLOAD_TYPE,
    payload: statementPayload(statement).toString("base64"),
    signatures: [],
  };
}
