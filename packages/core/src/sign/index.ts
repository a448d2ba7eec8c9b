// Signing and verification: DSSE envelopes carrying in-toto statements, in Sigstore bundles.
export {
  BUNDLE_MEDIA_TYPE,
  type SerializedBundle,
  signStatement,
  statementPayload,
  type UnsignedEnvelope,
  unsignedEnvelope,
} from "./bundle.js";
export { decodeBase64, INTOTO_PAYLOAD_TYPE, pae, signPae, verifyPae } from "./dsse.js";
export { describeIdentity, type IdentityRule, matchIdentity, type SignerIdentity } from "./identity.js";
export { githubIdToken, type KeylessOptions, SigstoreUnavailableError, signKeyless } from "./keyless.js";
export {
  generateKeys,
  type KeyAlgorithm,
  keyIdOf,
  type PrivateKeyInfo,
  type PublicKeyInfo,
  parsePrivateKey,
  parsePublicKey,
  readPrivateKey,
  readPublicKey,
} from "./keys.js";
export { type SignedRecord, SigningFailedError, type SigningPlan, signRecord } from "./plan.js";
export {
  type BundleLogEntry,
  bundleLogEntries,
  logBundle,
  type TransparencyLogOptions,
  TransparencyLogUnavailableError,
} from "./rekor.js";
export {
  buildStatement,
  MANIFEST_PREDICATE_TYPE,
  STATEMENT_TYPE,
  type Statement,
  type Subject,
} from "./statement.js";
export {
  type BundleTimestamp,
  bundleTimestamps,
  type TimestampOptions,
  TimestampUnavailableError,
  timestampBundle,
} from "./timestamp.js";
export {
  DEFAULT_TRUST_FILE,
  loadTrust,
  readTrustFile,
  type TrustedKey,
  type TrustSettings,
} from "./trust.js";
export {
  type DeepCheck,
  type VerifyCheck,
  type VerifyOptions,
  type VerifyReport,
  verifyBundle,
} from "./verify.js";
