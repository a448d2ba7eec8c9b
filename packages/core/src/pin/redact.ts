// Credentials never reach a manifest, a log or a message: one masker, in util/secrets.ts.
export {
  isSecretName,
  MIN_SECRET_LENGTH,
  maskSecrets,
  SECRET_NAME,
  SecretMasker,
  secretsOf,
  stripCredentials,
  stripUrlCredentialsIn,
} from "../util/secrets.js";
