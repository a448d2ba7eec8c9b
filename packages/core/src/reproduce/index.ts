// Reproducing a recorded run, and the verdict.

export { userOfThisProcess } from "../run/executor.js";
export {
  compareMetrics,
  compareOutputs,
  curveDifferences,
  type EnvironmentDifference,
  environmentDifferences,
  type MetricComparison,
  type OutputComparison,
  toleranceOf,
  type Verdict,
  verdictOf,
} from "./compare.js";
export { type ReproduceOptions, type ReproduceReport, reproduceRun } from "./reproduce.js";
