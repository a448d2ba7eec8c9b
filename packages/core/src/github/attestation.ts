// A run's signed bundle stored in GitHub's attestation store (POST /repos/{owner}/{repo}/attestations,
// body { bundle }), the request actions/attest makes, so `gh attestation verify FILE --repo OWNER/REPO`
// finds it by any subject digest. The bundle is sent as signed: nothing is re-signed here. Only a
// Sigstore bundle with a DSSE signature is stored; an unsigned record never is.
import { httpStatus } from "./api.js";

/** Stores one bundle; answers the attestation's id. Built from Octokit by the action, from fetch by the CLI. */
export interface AttestationStore {
  createAttestation(bundle: object): Promise<{ id: number }>;
}

export interface AttestationTarget {
  owner: string;
  repo: string;
  /** https://github.com, or a GitHub Enterprise server: where the attestation's page is. */
  serverUrl: string;
}

export type AttestationResult =
  | { stored: true; id: number; url: string }
  /** Not stored: `reason` says why in one line, naming the fix where there is one. */
  | { stored: false; denied: boolean; reason: string };

const BUNDLE_MEDIA_TYPE =
  /^application\/vnd\.dev\.sigstore\.bundle(\.v0\.[1-3]\+json|\+json;version=0\.[1-3])$/;

/** Why `doc` is not a signed Sigstore bundle that GitHub's store takes; undefined when it is one. */
export function notStorable(doc: unknown): string | undefined {
  const b = doc as {
    mediaType?: unknown;
    verificationMaterial?: unknown;
    dsseEnvelope?: { signatures?: unknown };
  } | null;
  if (!b || typeof b !== "object" || typeof b.mediaType !== "string" || !BUNDLE_MEDIA_TYPE.test(b.mediaType))
    return "the record is not a Sigstore bundle (an unsigned record is never stored as an attestation)";
  if (!b.dsseEnvelope || !Array.isArray(b.dsseEnvelope.signatures) || b.dsseEnvelope.signatures.length === 0)
    return "the record carries no signature (an unsigned record is never stored as an attestation)";
  if (!b.verificationMaterial || typeof b.verificationMaterial !== "object")
    return "the bundle has no verification material (no key hint or certificate)";
  return undefined;
}

/** The fix for a refused write: the permission the job (or token) needs. */
export const ATTESTATION_PERMISSION_FIX =
  "grant the job `permissions: attestations: write` (a pull request from a fork gets a read-only token; a fine-grained token needs the repository's Attestations: write)";

function refusal(e: unknown): string | undefined {
  const status = httpStatus(e);
  if (status !== 401 && status !== 403 && status !== 404) return undefined;
  const message = e instanceof Error ? e.message.split(" - ")[0]!.trim() : "refused";
  return `the token may not write attestations here (HTTP ${status}: ${message}): ${ATTESTATION_PERMISSION_FIX}`;
}

const retryable = (e: unknown) => {
  const status = httpStatus(e);
  return status === undefined || status >= 500 || status === 429;
};

/**
 * Stores `bundle` (as read from the record, unchanged). A refused write (401, 403, 404) and every
 * other failure come back as `stored: false` with the reason; server errors and dropped
 * connections are tried again (`attempts` in all, default 3).
 */
export async function storeAttestation(
  store: AttestationStore,
  bundle: unknown,
  target: AttestationTarget,
  o: { attempts?: number; backoffMs?: number } = {},
): Promise<AttestationResult> {
  const why = notStorable(bundle);
  if (why) return { stored: false, denied: false, reason: why };
  const attempts = Math.max(1, o.attempts ?? 3);
  for (let i = 1; ; i++) {
    try {
      const { id } = await store.createAttestation(bundle as object);
      const server = target.serverUrl.replace(/\/+$/, "");
      return { stored: true, id, url: `${server}/${target.owner}/${target.repo}/attestations/${id}` };
    } catch (e) {
      const denied = refusal(e);
      if (denied) return { stored: false, denied: true, reason: denied };
      if (i < attempts && retryable(e)) {
        await new Promise((r) => setTimeout(r, (o.backoffMs ?? 1000) * i));
        continue;
      }
      const status = httpStatus(e);
      const message = e instanceof Error ? e.message.split(" - ")[0]!.trim() : String(e);
      return {
        stored: false,
        denied: false,
        reason: `GitHub did not store the attestation (${status !== undefined ? `HTTP ${status}: ` : ""}${message})`,
      };
    }
  }
}
