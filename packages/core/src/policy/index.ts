// Compare and gate: pure functions of manifests, provenance facts and the policy.
export {
  amount,
  type DataChange,
  describeDataChange,
  describeRule,
  evaluateGate,
  type GateVerdict,
  type MetricSummary,
  metricNamed,
  metricValue,
  type ProvenanceFacts,
  type RuleResult,
  ruleName,
} from "./gate.js";
export {
  describe as describeSample,
  improvementTest,
  type Sample,
  studentTUpper,
  type TestResult,
} from "./stats.js";
