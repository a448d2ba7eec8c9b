// RFC 3161 timestamps for key-signed bundles: a timestamp authority (TSA) countersigns the
// signature's digest, and the bundle carries its answer in
// verificationMaterial.timestampVerificationData, where Sigstore verifiers look for the time of
// signing. sigstore-js's TSA witness speaks the protocol (POST {artifactHash, hashAlgorithm} to
// /api/v1/timestamp); retries are ours, so that an unreachable TSA costs a bounded wait and never
// the record.
import { bundleFromJSON } from "@sigstore/bundle";
import { TrackRunError } from "../errors.js";
import { loadCommonJs } from "../util/interop.js";
import type { SerializedBundle } from "./bundle.js";
import { decodeBase64 } from "./dsse.js";

export interface TimestampOptions {
  /** The timestamp authority: its base URL (…/api/v1/timestamp is added) or the full endpoint. */
  url: string;
  /** Attempts after the first (default 3), with backoff doubling from backoffMs (default 1 s). */
  retries?: number;
  backoffMs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Told when the record is kept without a timestamp (the CLI prints it, an action warns); unset: it is one of the record's notes. */
  onWarning?: (message: string) => void;
}

export class TimestampUnavailableError extends TrackRunError {
  constructor(message: string, cause: unknown) {
    super("timestamp-unavailable", message, { kind: "check", cause });
    this.name = "TimestampUnavailableError";
  }
}

/** A timestamp found in a bundle: when the TSA says the signature existed. */
export interface BundleTimestamp {
  signingTime: Date;
  der: Buffer;
}

/** The signature a timestamp covers: the envelope's first signature, as sigstore-js stamps it. */
function firstSignature(bundle: SerializedBundle): Buffer | undefined {
  const sig = (bundle as { dsseEnvelope?: { signatures?: Array<{ sig?: string }> } }).dsseEnvelope
    ?.signatures?.[0]?.sig;
  return typeof sig === "string" ? decodeBase64(sig) : undefined;
}

/**
 * The bundle with one more RFC 3161 timestamp over its signature. The TSA's answer is checked to be
 * a timestamp of this signature before it is added; a TSA that cannot be reached or answers
 * something else after every retry throws TimestampUnavailableError (the caller keeps the bundle).
 */
export async function timestampBundle(
  bundle: SerializedBundle,
  o: TimestampOptions,
): Promise<SerializedBundle> {
  const signature = firstSignature(bundle);
  if (!signature) throw new TimestampUnavailableError("the bundle has no signature to timestamp", undefined);
  const { TSAWitness } = await loadCommonJs(() => import("@sigstore/sign"));
  const { RFC3161Timestamp } = await loadCommonJs(() => import("@sigstore/core"));
  const { createHash } = await import("node:crypto");
  const digest = createHash("sha256").update(signature).digest();
  const witness = new TSAWitness({
    tsaBaseURL: o.url.replace(/\/+$/, ""),
    timeout: o.timeoutMs ?? 10_000,
    retry: { retries: 0 },
  });
  const content = bundleFromJSON(bundle).content;
  const retries = o.retries ?? 3;
  let delay = o.backoffMs ?? 1000;
  let last: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const { rfc3161Timestamps } = await witness.testify(content);
      const stamps = rfc3161Timestamps.map((t) => {
        const der = Buffer.from(t.signedTimestamp);
        const ts = RFC3161Timestamp.parse(der);
        if (!ts.tstInfo.messageImprintHashedMessage.equals(digest))
          throw new Error("the timestamp it returned is not over this signature");
        return { signedTimestamp: der.toString("base64") };
      });
      const material = bundle.verificationMaterial as SerializedBundle["verificationMaterial"] & {
        timestampVerificationData?: { rfc3161Timestamps?: Array<{ signedTimestamp: string }> };
      };
      const existing = material.timestampVerificationData?.rfc3161Timestamps ?? [];
      return {
        ...bundle,
        verificationMaterial: {
          ...material,
          timestampVerificationData: { rfc3161Timestamps: [...existing, ...stamps] },
        },
      } as SerializedBundle;
    } catch (e) {
      last = e;
      if (attempt < retries) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }
  const cause = last as { message?: string; cause?: { message?: string } } | undefined;
  const why = [cause?.message, cause?.cause?.message].filter(Boolean).join(": ");
  throw new TimestampUnavailableError(
    `no timestamp from the timestamp authority ${o.url} after ${retries + 1} attempt${retries === 0 ? "" : "s"}: ${why || String(last)}`,
    last,
  );
}

/** The RFC 3161 timestamps a bundle carries (none for most key-signed bundles). */
export async function bundleTimestamps(doc: unknown): Promise<BundleTimestamp[]> {
  const raw = (
    doc as {
      verificationMaterial?: {
        timestampVerificationData?: { rfc3161Timestamps?: Array<{ signedTimestamp?: unknown }> };
      };
    }
  )?.verificationMaterial?.timestampVerificationData?.rfc3161Timestamps;
  if (!Array.isArray(raw) || raw.length === 0) return [];
  const { RFC3161Timestamp } = await loadCommonJs(() => import("@sigstore/core"));
  return raw.map((t) => {
    const der = typeof t?.signedTimestamp === "string" ? decodeBase64(t.signedTimestamp) : undefined;
    if (!der) throw new Error("an RFC 3161 timestamp is not base64");
    return { der, signingTime: RFC3161Timestamp.parse(Buffer.from(der)).signingTime };
  });
}
