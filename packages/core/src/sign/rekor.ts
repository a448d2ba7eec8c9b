// A transparency-log entry for key-signed bundles: the DSSE envelope is logged in Rekor as a `dsse`
// entry with the signing key's public key as its verifier, and Rekor's answer (log index,
// integrated time, signed entry timestamp, inclusion proof) goes into
// verificationMaterial.tlogEntries, as sigstore-js puts it in its own bundles. With it, Sigstore
// verifiers find the log entry and the time of signing they require at their default thresholds.
// sigstore-js's Rekor witness speaks the protocol; retries are ours, so that an unreachable log
// costs a bounded wait and never the record.
import { bundleFromJSON } from "@sigstore/bundle";
import { TrackRunError } from "../errors.js";
import { loadCommonJs } from "../util/interop.js";
import type { SerializedBundle } from "./bundle.js";
import { decodeBase64 } from "./dsse.js";
import type { PublicKeyInfo } from "./keys.js";

export interface TransparencyLogOptions {
  /** Rekor's base URL (https://rekor.sigstore.dev, or your own instance). */
  url: string;
  /** Attempts after the first (default 3), with backoff doubling from backoffMs (default 1 s). */
  retries?: number;
  backoffMs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Told when the record is kept without a log entry (the CLI prints it, an action warns); unset: it is one of the record's notes. */
  onWarning?: (message: string) => void;
}

export class TransparencyLogUnavailableError extends TrackRunError {
  constructor(message: string, cause: unknown) {
    super("tlog-unavailable", message, { kind: "check", cause });
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
  const sig = (bundle as { dsseEnvelope?: { signatures?: Array<{ sig?: string }> } }).dsseEnvelope
    ?.signatures?.[0]?.sig;
  const signature = typeof sig === "string" ? decodeBase64(sig) : undefined;
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
  const retries = o.retries ?? 3;
  let delay = o.backoffMs ?? 1000;
  let last: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
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
  throw new TransparencyLogUnavailableError(
    `no transparency-log entry from Rekor ${o.url} after ${retries + 1} attempt${retries === 0 ? "" : "s"}: ${why || String(last)}`,
    last,
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
