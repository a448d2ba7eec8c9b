// BagIt (RFC 8493): the data pin of every run.
export { type BagSummary, buildTagFiles } from "./build.js";
export type { BagContents, BagProblem, BagReport, ValidationMode } from "./check.js";
export { BagWriter, type CreateOptions, createBag, createBagInPlace } from "./create.js";
export { type BagDiff, diffBags } from "./diff.js";
export {
  createHoleyBag,
  type FetchOptions,
  type FetchReport,
  fetchBag,
  parseRemoteList,
  type RemoteFile,
} from "./fetch.js";
export { digestBytes, type HashJob, type HashOutcome, type HashProgress, hashFiles } from "./hash.js";
export { outputFolderIdentities, outputsIdentity, payloadIdentity } from "./identity.js";
export { cachedBagPath, holeyBagDigest, type Materialized, materializeBag } from "./materialize.js";
export { decodeManifestPath, encodeManifestPath, normalizationTwins, safePath } from "./paths.js";
export { CANONICAL_AGENT, type DataPinResult, type PinDataOptions, pinData } from "./pin.js";
export { type BagLocation, locateBag } from "./read.js";
export { ALGORITHMS, type Algorithm, type BagInfo, isAlgorithm } from "./tagfiles.js";
export { TAR_MTIME, type TarResult, tarBag } from "./tar.js";
export { type ValidateOptions, validateBag } from "./validate.js";
