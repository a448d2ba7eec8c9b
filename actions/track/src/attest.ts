// The run's signed bundle into GitHub's attestation store. @actions/attest exposes only
// attest() (sign with its own Sigstore signer, then store); its writer is not exported. The bundle
// here is already signed (by key or keyless), so it is stored as is with the Octokit client of
// @actions/github: the same request actions/attest makes, POST /repos/{owner}/{repo}/attestations.
import { readFileSync } from "node:fs";
import { getOctokit } from "@actions/github";
import { type AttestationResult, type AttestationStore, storeAttestation } from "@track-run/core/github";
import type { TrackResult } from "@track-run/core/run";

export function octokitAttestationStore(
  token: string,
  repo: { owner: string; repo: string },
): AttestationStore {
  const octokit = getOctokit(token);
  return {
    createAttestation: async (bundle) => {
      const r = await octokit.request("POST /repos/{owner}/{repo}/attestations", {
        ...repo,
        bundle: bundle as { mediaType?: string },
      });
      return { id: r.data.id ?? 0 };
    },
  };
}

export type RunAttestation = AttestationResult | { skipped: string };

/** Stores a finished run's bundle for its subjects, or says why it is not stored. */
export async function attestRun(
  result: TrackResult,
  o: { token: string; repository: string | undefined; serverUrl: string },
): Promise<RunAttestation> {
  if (result.signing !== "key" && result.signing !== "keyless")
    return { skipped: "the record is not signed, so it is not stored as an attestation" };
  if (result.status.state !== "succeeded")
    return { skipped: `the run ${result.status.state}, so its outputs are not attested` };
  if (result.manifest.outputs.length === 0)
    return { skipped: "the run has no outputs, so there is nothing to attest" };
  const [owner, repo] = (o.repository ?? "").split("/");
  if (!owner || !repo) return { skipped: "not running in a GitHub repository (GITHUB_REPOSITORY is unset)" };
  if (!o.token) return { skipped: "no github-token, so no attestation" };
  const bundle = JSON.parse(readFileSync(result.bundlePath, "utf8")) as unknown;
  return storeAttestation(octokitAttestationStore(o.token, { owner, repo }), bundle, {
    owner,
    repo,
    serverUrl: o.serverUrl,
  });
}
