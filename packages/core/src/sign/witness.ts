// What a timestamp authority and a transparency log share as witnesses of a key-signed bundle:
// their options, the error when one cannot be reached, the signature they witness, and the
// retries. sigstore-js's witnesses speak the protocols with retries off; retries are ours, so that
// an unreachable witness costs a bounded wait and never the record.
import { TrackRunError } from "../errors.js";
import type { SerializedBundle } from "./bundle.js";
import { decodeBase64 } from "./dsse.js";

export interface WitnessOptions {
  /** The witness's base URL. */
  url: string;
  /** Attempts after the first (default 3), with backoff doubling from backoffMs (default 1 s). */
  retries?: number;
  backoffMs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Told when the record is kept without what the witness gives (the CLI prints it, an action warns); unset: it is one of the record's notes. */
  onWarning?: (message: string) => void;
}

/** A witness that could not be reached, or answered something else, after every retry. */
export class WitnessUnavailableError extends TrackRunError {
  constructor(code: string, message: string, cause: unknown) {
    super(code, message, { kind: "check", cause });
    this.name = "WitnessUnavailableError";
  }
}

/** The signature a witness covers: the envelope's first signature, as sigstore-js witnesses it. */
export function firstSignature(bundle: SerializedBundle): Buffer | undefined {
  const sig = (bundle as { dsseEnvelope?: { signatures?: Array<{ sig?: string }> } }).dsseEnvelope
    ?.signatures?.[0]?.sig;
  return typeof sig === "string" ? decodeBase64(sig) : undefined;
}

/**
 * The result of `attempt`, tried once and then up to o.retries more times with doubling backoff
 * (capped at 30 s). When every attempt throws, throws `unavailable` with a message that starts
 * with `nothing` ("no timestamp from …") and names the attempts and the last failure.
 */
export async function withRetries<T>(
  o: WitnessOptions,
  attempt: () => Promise<T>,
  nothing: string,
  unavailable: (message: string, cause: unknown) => Error,
): Promise<T> {
  const retries = o.retries ?? 3;
  let delay = o.backoffMs ?? 1000;
  let last: unknown;
  for (let n = 0; n <= retries; n++) {
    try {
      return await attempt();
    } catch (e) {
      last = e;
      if (n < retries) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }
  const cause = last as { message?: string; cause?: { message?: string } } | undefined;
  const why = [cause?.message, cause?.cause?.message].filter(Boolean).join(": ");
  throw unavailable(
    `${nothing} after ${retries + 1} attempt${retries === 0 ? "" : "s"}: ${why || String(last)}`,
    last,
  );
}
