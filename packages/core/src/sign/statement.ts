// The in-toto Statement v1 that carries a run manifest: subjects are the run's outputs (and its
// metrics file), the predicate is the manifest itself.
import type { RunManifest } from "../__generated__/index.js";

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
/** The predicate type of a track-run manifest (documented in docs/manifest.md). */
export const MANIFEST_PREDICATE_TYPE = "https://track-run.dev/attestation/run-manifest/v1";
/** A production pointer: which run of a model went to production, by whom, replacing what. */
export const PROMOTION_PREDICATE_TYPE = "https://track-run.dev/attestation/promotion/v1";
/** A reproduction's verdict: which run (by manifest digest) it reproduced, and how well. */
export const REPRODUCTION_PREDICATE_TYPE = "https://track-run.dev/attestation/reproduction/v1";
/** An invalidation (or revalidation) of an input: everything derived from it is marked. */
export const INVALIDATION_PREDICATE_TYPE = "https://track-run.dev/attestation/invalidation/v1";

export interface Subject {
  name: string;
  digest: { sha256: string };
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: RunManifest;
}

/** Subjects: every output (named by its path under the outputs folder) plus any extra files. */
export function buildStatement(manifest: RunManifest, extra: readonly Subject[] = []): Statement {
  const subject = [
    ...manifest.outputs.map((o) => ({ name: o.path, digest: { sha256: o.sha256 } })),
    ...extra,
  ];
  return { _type: STATEMENT_TYPE, subject, predicateType: MANIFEST_PREDICATE_TYPE, predicate: manifest };
}
