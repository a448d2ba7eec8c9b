// Keyless signing with Sigstore: an OIDC identity token (GitHub's, where the workflow grants
// id-token: write) buys a short-lived Fulcio certificate, the signature is logged in Rekor, and the
// bundle carries certificate and log entry. sigstore-js does the protocol; retries are ours so that
// a long run never waits forever on an unreachable service.
import { TrackRunError } from "../errors.js";
import { loadCommonJs } from "../util/interop.js";
import type { SerializedBundle } from "./bundle.js";
import { statementPayload } from "./bundle.js";
import { INTOTO_PAYLOAD_TYPE } from "./dsse.js";
import type { Statement } from "./statement.js";

export interface KeylessOptions {
  fulcioURL: string;
  rekorURL: string;
  /** Returns an OIDC identity token with audience "sigstore". */
  getToken: () => Promise<string>;
  /** Attempts after the first (default 3), with backoff doubling from backoffMs (default 1 s). */
  retries?: number;
  backoffMs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

export class SigstoreUnavailableError extends TrackRunError {
  constructor(message: string, cause: unknown) {
    super("sigstore-unavailable", message, { kind: "check", cause });
    this.name = "SigstoreUnavailableError";
  }
}

export async function signKeyless(statement: Statement, o: KeylessOptions): Promise<SerializedBundle> {
  const { attest } = await loadCommonJs(() => import("sigstore"));
  const payload = statementPayload(statement);
  const retries = o.retries ?? 3;
  let delay = o.backoffMs ?? 1000;
  let last: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const identityToken = await o.getToken();
      return await attest(payload, INTOTO_PAYLOAD_TYPE, {
        fulcioURL: o.fulcioURL,
        rekorURL: o.rekorURL,
        identityToken,
        tlogUpload: true,
        timeout: o.timeoutMs ?? 10_000,
        retry: { retries: 0 },
      });
    } catch (e) {
      last = e;
      if (attempt < retries) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }
  throw new SigstoreUnavailableError(
    `keyless signing failed after ${retries + 1} attempts (Fulcio ${o.fulcioURL}, Rekor ${o.rekorURL}): ${(last as Error)?.message ?? last}`,
    last,
  );
}

/** Reads an OIDC token for Sigstore from GitHub Actions (id-token: write), given the runner's two variables. */
export async function githubIdToken(requestUrl: string, requestToken: string): Promise<string> {
  const url = new URL(requestUrl);
  url.searchParams.set("audience", "sigstore");
  const res = await fetch(url, {
    headers: { Authorization: `bearer ${requestToken}`, Accept: "application/json" },
  });
  if (!res.ok) throw new Error(`GitHub's OIDC endpoint answered HTTP ${res.status}`);
  const body = (await res.json()) as { value?: string };
  if (!body.value) throw new Error("GitHub's OIDC endpoint returned no token");
  return body.value;
}
