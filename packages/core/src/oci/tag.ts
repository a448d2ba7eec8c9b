// Promotion in the registry: the promoted run's outputs artifact and its image get a tag
// (`production`, or the environment's name), so that a deployment can pull by tag what was gated.
// The artifact is named by the run's artifact.json (not signed), so it is tagged only after its
// layers were checked to be exactly the run's signed outputs; the image by the repository digest
// the signed manifest pinned.
import type { RunManifest } from "../__generated__/index.js";
import { UsageError } from "../errors.js";
import type { LedgerReader } from "../ledger/reader.js";
import { type RegistryAccess, registryClient } from "./publish.js";
import { artifactHint, matchLayers } from "./pull.js";
import {
  DIGEST_PATTERN,
  formatOciReference,
  type OciReference,
  parseOciReference,
  TAG_PATTERN,
} from "./reference.js";

export interface TaggedRun {
  /** oci://REGISTRY/REPO:TAG of the outputs artifact, when the run has one. */
  artifact?: string;
  /** REGISTRY/REPO:TAG of the run's image, when it was pinned by a repository digest. */
  image?: string;
  notes: string[];
}

/** `REGISTRY/REPO@sha256:…` (a docker repoDigest) as a reference; undefined when it names no registry host. */
function imageReference(repoDigest: string): { ref: OciReference; digest: string } | undefined {
  const at = repoDigest.indexOf("@");
  if (at < 0) return undefined;
  const name = repoDigest.slice(0, at);
  const digest = repoDigest.slice(at + 1);
  const slash = name.indexOf("/");
  const host = slash > 0 ? name.slice(0, slash) : "";
  // Docker Hub short names (no host with a dot or port) are not tagged: they need Hub's own login flow.
  if (!DIGEST_PATTERN.test(digest) || !(host.includes(".") || host.includes(":") || host === "localhost"))
    return undefined;
  try {
    return { ref: parseOciReference(`oci://${name}`, "the run's image"), digest };
  } catch {
    return undefined;
  }
}

export async function tagPromotedRun(
  reader: LedgerReader,
  runId: string,
  tag: string,
  o: { access?: RegistryAccess; onStep?: (m: string) => void } = {},
): Promise<TaggedRun> {
  if (!TAG_PATTERN.test(tag))
    throw new UsageError(
      "usage",
      `--tag "${tag}" is not a registry tag: letters, digits, '_', '.' and '-', starting with a letter, digit or '_', at most 128 characters`,
    );
  const record = await reader.require(runId);
  const m: RunManifest = record.manifest;
  const out: TaggedRun = { notes: [] };
  const hint = await artifactHint(reader, runId);
  if (hint) {
    const ref = parseOciReference(hint.reference, `artifact.json of run ${runId}`);
    const client = registryClient(ref, o.access);
    const got = await client.getManifest(hint.digest);
    if (!got)
      throw new UsageError(
        "no-such-artifact",
        `run ${runId}'s artifact ${hint.reference} is not in the registry`,
      );
    matchLayers(JSON.parse(got.body.toString("utf8")), m.outputs, hint.reference);
    o.onStep?.(`tagging ${hint.reference} as ${tag}`);
    await client.putManifest(tag, got.body, got.mediaType);
    out.artifact = formatOciReference(ref, tag);
  } else
    out.notes.push(
      `run ${runId} has no outputs artifact (it was recorded without artifacts:); nothing to tag`,
    );
  const repoDigest = m.environment.image?.repoDigest;
  const image = repoDigest ? imageReference(repoDigest) : undefined;
  if (image) {
    o.onStep?.(`tagging image ${repoDigest} as ${tag}`);
    await registryClient(image.ref, o.access).tag(image.digest, tag);
    out.image = `${image.ref.registry}/${image.ref.repository}:${tag}`;
  } else if (m.environment.runtime === "docker")
    out.notes.push(`run ${runId}'s image has no repository digest in a registry; the image is not tagged`);
  return out;
}
