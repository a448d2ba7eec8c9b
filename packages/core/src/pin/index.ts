export {
  GPU_QUERY_FIELDS,
  type GpuProbe,
  parseCudaVersion,
  parseGpuCsv,
  parseMigList,
  probeGpus,
} from "./gpu.js";
