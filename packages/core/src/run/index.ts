// Running and recording a training run.

export { protectTrackRunFolder, TRACK_RUN_GITIGNORE, trackRunFolderOf } from "../util/track-run-folder.js";
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
export { LABEL_KEY, LABEL_VALUE_MAX, mergeLabels, parseLabel, parseLabelLine } from "./labels.js";
export { dataLocation, resolveDataLocation } from "./location.js";
export { collectMetrics, flattenMetrics, parseCurves, parseMetricLine, readDvclive } from "./metrics.js";
export { type OutputSelection, selectOutputs } from "./outputs.js";
export { findOrPullRunOutputs, findParentRuns, outputsFolderOf, resolveRunInputs } from "./pipeline.js";
export { buildManifest, maskManifest, type RunSink, recordRun } from "./record.js";
export { parseRunData, parseSize, type RunOptions, readRunConfig, resolveRunSpec } from "./spec.js";
export {
  type Collected,
  collectRun,
  type Executed,
  executeRun,
  type Pinned,
  type Prepared,
  pinInputs,
  prepareRun,
} from "./stages.js";
export { newRunId, type TrackContext, type TrackResult, type TrackSpec, trackRun } from "./track.js";
