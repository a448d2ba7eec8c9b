// A run's outputs as one OCI artifact: an image manifest with its own artifactType, the empty
// config, one layer per signed output (its path in org.opencontainers.image.title, its digest the
// sha256 the run signed) and the run's annotations. The run's signed bundle is attached as a
// referrer (subject = the artifact), as `cosign attach attestation` and `oras attach` do, through
// the referrers API when the registry processes `subject`, else the referrers tag schema.
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { RunManifest } from "../__generated__/index.js";
import { type Descriptor, MEDIA_MANIFEST, type OciClient } from "./client.js";
import { formatOciReference, TAG_PATTERN } from "./reference.js";

export const OUTPUTS_ARTIFACT_TYPE = "application/vnd.track-run.outputs.v1";
export const BUNDLE_ARTIFACT_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
export const OUTPUT_LAYER_TYPE = "application/vnd.track-run.output.v1";
export const TITLE = "org.opencontainers.image.title";
export const EMPTY_CONFIG: Descriptor = {
  mediaType: "application/vnd.oci.empty.v1+json",
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
};
const EMPTY_BYTES = Buffer.from("{}");

/** The annotations of a run's artifact. */
export const ANNOTATION = {
  runId: "dev.track-run.run-id",
  model: "dev.track-run.model",
  commit: "dev.track-run.commit",
  manifestDigest: "dev.track-run.manifest-digest",
  status: "dev.track-run.status",
  role: "dev.track-run.role",
} as const;

/** The run's record file naming its artifact: a hint only, as it is not covered by the run's signature. */
export const ARTIFACT_RECORD = "artifact.json";

export interface ArtifactRecord {
  schemaVersion: 1;
  /** oci://REGISTRY/REPO@sha256:… */
  reference: string;
  registry: string;
  repository: string;
  digest: string;
  artifactType: string;
  /** The referrer manifest holding the run's bundle, and how it was attached. */
  bundle?: { digest: string; via: "api" | "tag" };
  tags: string[];
}

export interface PushedArtifact extends ArtifactRecord {
  size: number;
  layers: number;
}

export interface PushOptions {
  manifest: RunManifest;
  /** "sha256:…" of the manifest's canonical JSON. */
  manifestDigest: string;
  /** The folder the outputs' paths are relative to. */
  outputsDir: string;
  /** The run's Sigstore bundle (absent for an unsigned run: nothing is attached). */
  bundle?: Uint8Array;
  /** Tags to point at the artifact; default the run id. */
  tags?: string[];
  onStep?: (m: string) => void;
}

/** The artifact's image manifest for a run's signed outputs. */
export function outputsManifest(m: RunManifest, manifestDigest: string): Record<string, unknown> {
  const annotations: Record<string, string> = {
    [ANNOTATION.runId]: m.runId,
    [ANNOTATION.model]: m.model,
    [ANNOTATION.manifestDigest]: manifestDigest,
    [ANNOTATION.status]: m.status.state,
    "org.opencontainers.image.created": m.timing.finishedAt ?? m.timing.startedAt,
  };
  if (m.code.commit) {
    annotations[ANNOTATION.commit] = m.code.commit;
    annotations["org.opencontainers.image.revision"] = m.code.commit;
  }
  return {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    artifactType: OUTPUTS_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers: m.outputs.map((o) => ({
      mediaType: OUTPUT_LAYER_TYPE,
      digest: `sha256:${o.sha256}`,
      size: o.size,
      annotations: { [TITLE]: o.path, ...(o.role ? { [ANNOTATION.role]: o.role } : {}) },
    })),
    annotations,
  };
}

/**
 * Pushes the run's signed outputs (manifest.outputs: all, or the declared ones; never untracked
 * files) as one artifact, tags it, and attaches the bundle as a referrer. The registry checks each
 * uploaded file against its digest, so a file changed since the run was signed is refused.
 */
export async function pushRunArtifact(client: OciClient, o: PushOptions): Promise<PushedArtifact> {
  const step = o.onStep ?? (() => undefined);
  const m = o.manifest;
  await client.pushBlob(EMPTY_CONFIG, { bytes: EMPTY_BYTES });
  let n = 0;
  for (const out of m.outputs) {
    step(`pushing output ${++n}/${m.outputs.length}: ${out.path} (${out.size} bytes)`);
    await client.pushBlob(
      { digest: `sha256:${out.sha256}`, size: out.size },
      { path: join(o.outputsDir, out.path) },
    );
  }
  const body = Buffer.from(JSON.stringify(outputsManifest(m, o.manifestDigest)));
  const { digest } = await client.putManifest(`sha256:${createDigest(body)}`, body, MEDIA_MANIFEST);
  const tags = (o.tags ?? [m.runId]).filter((t) => TAG_PATTERN.test(t));
  for (const t of tags) await client.putManifest(t, body, MEDIA_MANIFEST);
  const subject: Descriptor = { mediaType: MEDIA_MANIFEST, digest, size: body.length };
  let bundle: ArtifactRecord["bundle"];
  if (o.bundle) {
    step("attaching the signed bundle as a referrer");
    bundle = await attachBundle(client, subject, o.bundle, m.runId);
  }
  return {
    schemaVersion: 1,
    reference: formatOciReference(client.ref, digest),
    registry: client.ref.registry,
    repository: client.ref.repository,
    digest,
    artifactType: OUTPUTS_ARTIFACT_TYPE,
    ...(bundle ? { bundle } : {}),
    tags,
    size: body.length,
    layers: m.outputs.length,
  };
}

/** Stores the bundle as a referrer manifest of `subject`; listed in the fallback tag's index when the registry has no referrers API. */
export async function attachBundle(
  client: OciClient,
  subject: Descriptor,
  bundle: Uint8Array,
  runId: string,
): Promise<{ digest: string; via: "api" | "tag" }> {
  const bundleDigest = `sha256:${createDigest(bundle)}`;
  await client.pushBlob(EMPTY_CONFIG, { bytes: EMPTY_BYTES });
  await client.pushBlob({ digest: bundleDigest, size: bundle.length }, { bytes: bundle });
  const annotations = { [ANNOTATION.runId]: runId, [TITLE]: `${runId}.sigstore.json` };
  const referrer = {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    artifactType: BUNDLE_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers: [{ mediaType: BUNDLE_ARTIFACT_TYPE, digest: bundleDigest, size: bundle.length }],
    subject,
    annotations,
  };
  const body = Buffer.from(JSON.stringify(referrer));
  const put = await client.putManifest(`sha256:${createDigest(body)}`, body, MEDIA_MANIFEST);
  if (put.subjectProcessed) return { digest: put.digest, via: "api" };
  await client.addReferrerToTag(subject.digest, {
    mediaType: MEDIA_MANIFEST,
    digest: put.digest,
    size: body.length,
    artifactType: BUNDLE_ARTIFACT_TYPE,
    annotations,
  });
  return { digest: put.digest, via: "tag" };
}

function createDigest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
