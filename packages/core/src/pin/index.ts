export { type CodePinOptions, dirtyDigest, parsePorcelain, pinCode } from "./code.js";
export {
  GPU_QUERY_FIELDS,
  type GpuProbe,
  parseCudaVersion,
  parseGpuCsv,
  parseMigList,
  probeGpus,
} from "./gpu.js";
export { maskSecrets, stripCredentials } from "./redact.js";
