// After a run is recorded: its signed outputs pushed as one artifact, the bundle attached, and the
// artifact named in the run's record folder (artifact.json: a hint to find it, never trusted for
// more, as the run's signature does not cover it).
import type { RunManifest } from "../__generated__/index.js";
import type { LedgerStore } from "../ledger/types.js";
import { ARTIFACT_RECORD, type ArtifactRecord, pushRunArtifact } from "./artifact.js";
import { OciClient } from "./client.js";
import type { RegistryCredentials } from "./credentials.js";
import { type OciReference, parseOciReference } from "./reference.js";

/** How to reach registries: credentials by registry host (read at the edge), and who hears of retries. */
export interface RegistryAccess {
  credentials?: (registry: string) => RegistryCredentials | undefined;
  fetch?: typeof fetch;
  onRetry?: (message: string) => void;
}

export function registryClient(ref: OciReference, access: RegistryAccess = {}): OciClient {
  const credentials = access.credentials?.(ref.registry);
  return new OciClient(ref, {
    ...(credentials ? { credentials } : {}),
    ...(access.fetch ? { fetch: access.fetch } : {}),
    ...(access.onRetry ? { onRetry: access.onRetry } : {}),
  });
}

export async function publishRun(
  store: LedgerStore,
  o: {
    /** oci://REGISTRY/REPO, as given. */
    artifacts: string;
    /** Names the input in messages: --artifacts, track-run.yml artifacts, the action input. */
    what?: string;
    manifest: RunManifest;
    manifestDigest: string;
    outputsDir: string;
    /** The signed bundle (JSON document); absent for an unsigned record. */
    bundle?: unknown;
    access?: RegistryAccess;
    onStep?: (m: string) => void;
  },
): Promise<ArtifactRecord> {
  const ref = parseOciReference(o.artifacts, o.what ?? "--artifacts");
  const client = registryClient(ref, o.access);
  const pushed = await pushRunArtifact(client, {
    manifest: o.manifest,
    manifestDigest: o.manifestDigest,
    outputsDir: o.outputsDir,
    ...(o.bundle !== undefined ? { bundle: Buffer.from(JSON.stringify(o.bundle)) } : {}),
    ...(o.onStep ? { onStep: o.onStep } : {}),
  });
  const record: ArtifactRecord = {
    schemaVersion: 1,
    reference: pushed.reference,
    registry: pushed.registry,
    repository: pushed.repository,
    digest: pushed.digest,
    artifactType: pushed.artifactType,
    ...(pushed.bundle ? { bundle: pushed.bundle } : {}),
    tags: pushed.tags,
  };
  await store.putRunFile(o.manifest.runId, ARTIFACT_RECORD, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}
