// How a run's record gets signed: keyless first when configured, then a local key; unsigned only
// on request. When every way fails the unsigned envelope is still returned with the failure, so a
// long training run never loses its record because signing failed.
import { TrackRunError } from "../errors.js";
import { type SerializedBundle, signStatement, type UnsignedEnvelope, unsignedEnvelope } from "./bundle.js";
import { type KeylessOptions, signKeyless } from "./keyless.js";
import type { PrivateKeyInfo } from "./keys.js";
import type { Statement } from "./statement.js";

export interface SigningPlan {
  keyless?: KeylessOptions;
  key?: PrivateKeyInfo;
  unsigned?: boolean;
}

export type SignedRecord =
  | { method: "keyless" | "key"; document: SerializedBundle; notes: string[] }
  | { method: "unsigned"; document: UnsignedEnvelope; notes: string[] };

export class SigningFailedError extends TrackRunError {
  /** The record, unsigned and marked so: keep it. */
  readonly unsigned: UnsignedEnvelope;
  constructor(message: string, unsigned: UnsignedEnvelope, details: string[]) {
    super("signing-failed", message, { kind: "check", details });
    this.name = "SigningFailedError";
    this.unsigned = unsigned;
  }
}

export async function signRecord(statement: Statement, plan: SigningPlan): Promise<SignedRecord> {
  if (plan.unsigned)
    return { method: "unsigned", document: unsignedEnvelope(statement), notes: ["unsigned on request"] };
  const notes: string[] = [];
  if (plan.keyless) {
    try {
      return { method: "keyless", document: await signKeyless(statement, plan.keyless), notes };
    } catch (e) {
      notes.push((e as Error).message);
      if (plan.key) notes.push(`fell back to the local key ${plan.key.keyId}`);
    }
  }
  if (plan.key) return { method: "key", document: signStatement(statement, plan.key), notes };
  throw new SigningFailedError(
    plan.keyless
      ? "the record could not be signed: Sigstore failed and no fallback key is configured; it was kept unsigned"
      : "no way to sign: configure a key (--key, TRACK_RUN_SIGNING_KEY) or keyless signing, or pass --unsigned",
    unsignedEnvelope(statement),
    notes,
  );
}
