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
export { type CodePinOptions, dirtyDigest, parsePorcelain, pinCode } from "./code.js";
export {
  type BuildOptions,
  buildAndPin,
  type EnvPinOptions,
  findLockfiles,
  fromImages,
  hostFacts,
  type ImagePin,
  interpreters,
  parseImageRef,
  pinEnvironment,
  type RunnerContext,
  resolveImage,
  runnerFromEnvironment,
} from "./env.js";
export {
  GPU_QUERY_FIELDS,
  type GpuProbe,
  parseCudaVersion,
  parseGpuCsv,
  parseMigList,
  probeGpus,
} from "./gpu.js";
