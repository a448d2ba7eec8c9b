// Outputs as OCI artifacts: a small distribution-spec client, pushing a run's outputs with its
// bundle attached as a referrer, and pulling them back checked against the signed record.
export {
  ANNOTATION,
  ARTIFACT_RECORD,
  type ArtifactRecord,
  attachBundle,
  BUNDLE_ARTIFACT_TYPE,
  EMPTY_CONFIG,
  OUTPUT_LAYER_TYPE,
  OUTPUTS_ARTIFACT_TYPE,
  outputsManifest,
  type PushedArtifact,
  type PushOptions,
  pushRunArtifact,
  TITLE,
} from "./artifact.js";
export {
  type BlobSource,
  type Descriptor,
  MEDIA_INDEX,
  MEDIA_MANIFEST,
  OciClient,
  type OciClientOptions,
  parseChallenge,
  RegistryError,
  referrersTag,
} from "./client.js";
export { credentialsFor, type RegistryCredentials } from "./credentials.js";
export { publishRun, type RegistryAccess, registryClient } from "./publish.js";
export { artifactHint, matchLayers, type PulledOutputs, pullDigest, pullOutputs, pullRun } from "./pull.js";
export {
  DIGEST_PATTERN,
  formatOciReference,
  isLoopback,
  type OciReference,
  parseOciReference,
  TAG_PATTERN,
} from "./reference.js";
export { type TaggedRun, tagPromotedRun } from "./tag.js";
