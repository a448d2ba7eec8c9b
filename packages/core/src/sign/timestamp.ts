// RFC 3161 timestamps for key-signed bundles: a timestamp authority (TSA) countersigns the
// signature's digest, and the bundle carries its answer in
// verificationMaterial.timestampVerificationData, where Sigstore verifiers look for the time of
// signing. sigstore-js's TSA witness speaks the protocol (POST {artifactHash, hashAlgorithm} to
// /api/v1/timestamp); retries are ours (witness.ts), so that an unreachable TSA costs a bounded
// wait and never the record.
import { bundleFromJSON } from "@sigstore/bundle";
import { loadCommonJs } from "../util/interop.js";
import type { SerializedBundle } from "./bundle.js";
import { decodeBase64 } from "./dsse.js";
import { firstSignature, type WitnessOptions, WitnessUnavailableError, withRetries } from "./witness.js";

export interface TimestampOptions extends WitnessOptions {
  /** The timestamp authority: its base URL (…/api/v1/timestamp is added) or the full endpoint. */
  url: string;
}

export class TimestampUnavailableError extends WitnessUnavailableError {
  constructor(message: string, cause: unknown) {
    super("timestamp-unavailable", message, cause);
    this.name = "TimestampUnavailableError";
  }
}

/** A timestamp found in a bundle: when the TSA says the signature existed. */
export interface BundleTimestamp {
  signingTime: Date;
  der: Buffer;
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
  return withRetries(
    o,
    async () => {
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
    },
    `no timestamp from the timestamp authority ${o.url}`,
    (message, cause) => new TimestampUnavailableError(message, cause),
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
