/* eslint-disable */
// Generated from schemas/policy.schema.json by `npm run codegen`. Do not edit: change the schema and regenerate.

/**
 * An absolute amount (0.01) or a relative one as a percentage string ('5%').
 *
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "amount".
 */
export type Amount = number | string;

/**
 * The promotion gate of one model (.track-run/policy.yml): metric rules against production and provenance rules.
 */
export interface Policy {
  /**
   * The model this policy gates: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters.
   */
  model: string;
  metrics?: {
    [k: string]: MetricRule;
  };
  provenance?: ProvenanceRules;
  significance?: number;
}
/**
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "MetricRule".
 */
export interface MetricRule {
  direction: "higher" | "lower";
  min?: number;
  max?: number;
  max_regression?: Amount;
  min_improvement?: Amount;
  noise?: Amount;
  /**
   * An absolute amount (0.01) or a relative one as a percentage string ('5%').
   */
  tolerance?: number | string;
}
/**
 * This interface was referenced by `Policy`'s JSON-Schema
 * via the `definition` "ProvenanceRules".
 */
export interface ProvenanceRules {
  signed?: boolean;
  image_pinned?: boolean;
  clean_tree?: boolean;
  data_valid?: boolean;
  reproduced?: number;
  /**
   * Refuse a candidate derived from an invalidated input (on unless set to false).
   */
  not_invalidated?: boolean;
}
