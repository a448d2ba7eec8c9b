// How a run's record gets signed: keyless first when configured, then a local key; unsigned only
// on request. When every way fails the unsigned envelope is still returned with the failure, so a
// long training run never loses its record because signing failed.
import { TrackRunError } from "../errors.js";
import { type SerializedBundle, signStatement, type UnsignedEnvelope, unsignedEnvelope } from "./bundle.js";
import { type KeylessOptions, signKeyless } from "./keyless.js";
import type { PrivateKeyInfo } from "./keys.js";
import { logBundle, type TransparencyLogOptions } from "./rekor.js";
import type { Statement } from "./statement.js";
import { type TimestampOptions, timestampBundle } from "./timestamp.js";
import type { WitnessOptions } from "./witness.js";

export interface SigningPlan {
  keyless?: KeylessOptions;
  key?: PrivateKeyInfo;
  unsigned?: boolean;
  /** A timestamp authority for key-signed bundles (keyless ones carry Rekor's time already). */
  tsa?: TimestampOptions;
  /** A Rekor to log key-signed bundles in (keyless ones are logged by keyless signing itself). */
  rekor?: TransparencyLogOptions;
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

/** The bundle as the witness returns it, or, when the witness fails, as it was, with a warning. */
async function witnessed<O extends WitnessOptions>(
  document: SerializedBundle,
  o: O,
  witness: (document: SerializedBundle, o: O) => Promise<SerializedBundle>,
  without: string,
  notes: string[],
): Promise<SerializedBundle> {
  try {
    return await witness(document, o);
  } catch (e) {
    const warning = `${(e as Error).message}; the record is kept signed, without ${without}`;
    if (o.onWarning) o.onWarning(warning);
    else notes.push(warning);
    return document;
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
  if (plan.key) {
    const key = plan.key;
    let document = signStatement(statement, key);
    if (plan.tsa) document = await witnessed(document, plan.tsa, timestampBundle, "a timestamp", notes);
    if (plan.rekor)
      document = await witnessed(
        document,
        plan.rekor,
        (d, o) => logBundle(d, key, o),
        "a transparency-log entry",
        notes,
      );
    return { method: "key", document, notes };
  }
  throw new SigningFailedError(
    plan.keyless
      ? "the record could not be signed: Sigstore failed and no fallback key is configured; it was kept unsigned"
      : "no way to sign: configure a key (--key, TRACK_RUN_SIGNING_KEY) or keyless signing, or pass --unsigned",
    unsignedEnvelope(statement),
    notes,
  );
}
