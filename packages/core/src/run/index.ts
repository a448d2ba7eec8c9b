// Running and recording a training run.
export { DockerExecutor } from "./docker-executor.js";
export {
  describeGpuRequest,
  deviceRequests,
  type ExecOutcome,
  type ExecRequest,
  type Executor,
  type GpuRequest,
  type GpuSample,
  lineSplitter,
  type Mount,
  parseGpuRequest,
  userOfThisProcess,
} from "./executor.js";
export { HostExecutor } from "./host-executor.js";
export { collectMetrics, flattenMetrics, parseCurves, parseMetricLine, readDvclive } from "./metrics.js";
export { parseSize, type RunOptions, readRunConfig, resolveRunSpec } from "./spec.js";
export { newRunId, type TrackContext, type TrackResult, type TrackSpec, trackRun } from "./track.js";
