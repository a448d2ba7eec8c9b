// A transparency-log entry for key-signed bundles: the DSSE envelope is logged in Rekor as a `dsse`
// entry with the signing key's public key as its verifier, and Rekor's answer (log index,
// integrated time, signed entry timestamp, inclusion proof) goes into
// verificationMaterial.tlogEntries, as sigstore-js puts it in its own bundles. With it, Sigstore
// verifiers find the log entry and the time of signing they require at their default thresholds.
// sigstore-js's Rekor witness speaks the protocol; retries are ours (witness.ts), so that an
// unreachable log costs a bounded wait and never the record.
import { bundleFromJSON } from "@sigstore/bundle";
import { loadCommonJs } from "../util/interop.js";
import type { SerializedBundle } from "./bundle.js";
import { decodeBase64 } from "./dsse.js";
import type { PublicKeyInfo } from "./keys.js";
import { firstSignature, type WitnessOptions, WitnessUnavailableError, withRetries } from "./witness.js";

export interface TransparencyLogOptions extends WitnessOptions {
  /** Rekor's base URL (https://rekor.sigstore.dev, or your own instance). */
  url: string;
}

export class TransparencyLogUnavailableError extends WitnessUnavailableError {
  constructor(message: string, cause: unknown) {
    super("tlog-unavailable", message, cause);
    this.name = "TransparencyLogUnavailableError";
  }
}

/** A Rekor entry found in a bundle, as its verificationMaterial.tlogEntries holds it. */
export interface BundleLogEntry {
  logIndex: string;
  integratedTime: Date;
  /** The log's signed promise of inclusion (with it, verifiers take integratedTime as the time of signing). */
  hasPromise: boolean;
}

type JsonEntry = {
  logIndex?: string;
  integratedTime?: string;
  inclusionPromise?: unknown;
};

/**
 * The bundle with a Rekor entry for its DSSE envelope. The entry Rekor returns is checked to log
 * this envelope's signature before it is added; a log that cannot be reached or answers something
 * else after every retry throws TransparencyLogUnavailableError (the caller keeps the bundle).
 */
export async function logBundle(
  bundle: SerializedBundle,
  key: PublicKeyInfo,
  o: TransparencyLogOptions,
): Promise<SerializedBundle> {
  const signature = firstSignature(bundle);
  if (!signature)
    throw new TransparencyLogUnavailableError("the bundle has no DSSE signature to log", undefined);
  const { RekorWitness } = await loadCommonJs(() => import("@sigstore/sign"));
  const { TransparencyLogEntry } = await loadCommonJs(() => import("@sigstore/protobuf-specs"));
  const witness = new RekorWitness({
    rekorBaseURL: o.url.replace(/\/+$/, ""),
    entryType: "dsse",
    // A retry after an answer that was lost finds the entry already there: fetch it.
    fetchOnConflict: true,
    timeout: o.timeoutMs ?? 10_000,
    retry: { retries: 0 },
  });
  const content = bundleFromJSON(bundle).content;
  return withRetries(
    o,
    async () => {
      const { tlogEntries } = await witness.testify(content, key.pem);
      const entries = tlogEntries.map((e) => {
        const body = JSON.parse(Buffer.from(e.canonicalizedBody).toString("utf8")) as {
          kind?: string;
          spec?: { signatures?: Array<{ signature?: string }> };
        };
        const logged = body.spec?.signatures?.map((s) =>
          s.signature ? decodeBase64(s.signature) : undefined,
        );
        if (body.kind !== "dsse" || logged?.length !== 1 || !logged[0]?.equals(signature))
          throw new Error("the entry it returned does not log this signature");
        return TransparencyLogEntry.toJSON(e);
      });
      const material = bundle.verificationMaterial as SerializedBundle["verificationMaterial"] & {
        tlogEntries?: unknown[];
      };
      return {
        ...bundle,
        verificationMaterial: { ...material, tlogEntries: [...(material.tlogEntries ?? []), ...entries] },
      } as SerializedBundle;
    },
    `no transparency-log entry from Rekor ${o.url}`,
    (message, cause) => new TransparencyLogUnavailableError(message, cause),
  );
}

/** The Rekor entries a bundle carries (keyless bundles always, key-signed ones when logged). */
export function bundleLogEntries(doc: unknown): BundleLogEntry[] {
  const raw = (doc as { verificationMaterial?: { tlogEntries?: JsonEntry[] } })?.verificationMaterial
    ?.tlogEntries;
  if (!Array.isArray(raw)) return [];
  return raw.map((e) => ({
    logIndex: String(e?.logIndex ?? "?"),
    integratedTime: new Date(Number(e?.integratedTime ?? 0) * 1000),
    hasPromise: Boolean(e?.inclusionPromise),
  }));
}
