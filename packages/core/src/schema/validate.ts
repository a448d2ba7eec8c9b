import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import configSchema from "../../../../schemas/config.schema.json" with { type: "json" };
import manifestSchema from "../../../../schemas/manifest.schema.json" with { type: "json" };
import policySchema from "../../../../schemas/policy.schema.json" with { type: "json" };
import trustSchema from "../../../../schemas/trust.schema.json" with { type: "json" };
import type { Config, Policy, RunManifest, TrustPolicy } from "../__generated__/index.js";
import { UsageError } from "../errors.js";

/** The documents track-run reads, each with its schema in schemas/. */
export interface DocumentTypes {
  manifest: RunManifest;
  policy: Policy;
  config: Config;
  trust: TrustPolicy;
}
export type DocumentKind = keyof DocumentTypes;

const schemas: Record<DocumentKind, object> = {
  manifest: manifestSchema,
  policy: policySchema,
  config: configSchema,
  trust: trustSchema,
};

export interface Problem {
  /** JSON path of the offending value, e.g. `/metrics/accuracy/direction` ("" for the root). */
  path: string;
  message: string;
}

// ajv-formats is CommonJS with a default export; under NodeNext its namespace is the function.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

let ajv: Ajv2020 | undefined;
const compiled = new Map<DocumentKind, ValidateFunction>();

/** The options every validator is compiled with. */
export const AJV_OPTIONS = { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true };

function validator(kind: DocumentKind): ValidateFunction {
  let fn = compiled.get(kind);
  if (!fn) {
    // The schemas are ours and fixed: they are checked against the 2020-12 meta-schema by the
    // tests, not at every start (compiling the meta-schema cost as much as the schema itself).
    ajv ??= addFormats(new Ajv2020({ ...AJV_OPTIONS, validateSchema: false }));
    fn = ajv.compile(schemas[kind]);
    compiled.set(kind, fn);
  }
  return fn;
}

/** Compiles the validator of `kind` now (ahead of its first use, in time that would be idle). */
export function prepareValidator(kind: DocumentKind): void {
  validator(kind);
}

/** The schema of `kind` as shipped, e.g. for checking it against its meta-schema. */
export function schemaOf(kind: DocumentKind): object {
  return schemas[kind];
}

function describe(e: ErrorObject): Problem {
  const path = e.instancePath;
  switch (e.keyword) {
    case "required":
      return {
        path,
        message: `missing required property "${(e.params as { missingProperty: string }).missingProperty}"`,
      };
    case "additionalProperties":
      return {
        path,
        message: `unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`,
      };
    case "enum":
      return {
        path,
        message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`,
      };
    case "const":
      return {
        path,
        message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`,
      };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

/** Every problem of `doc` against the schema of `kind`; empty when valid. */
export function schemaProblems(kind: DocumentKind, doc: unknown): Problem[] {
  const fn = validator(kind);
  if (fn(doc)) return [];
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of fn.errors ?? []) {
    // oneOf/anyOf umbrella errors repeat what their branches already said.
    if (e.keyword === "oneOf" || e.keyword === "anyOf" || e.keyword === "if") continue;
    const p = describe(e);
    const key = `${p.path}\0${p.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  }
  return out;
}

/**
 * Validates `doc` as a `kind` document read from `source` (a file name or a description the user
 * recognises). Throws one UsageError listing every problem with its JSON path.
 */
export function validateDocument<K extends DocumentKind>(
  kind: K,
  doc: unknown,
  source: string,
): DocumentTypes[K] {
  const problems = schemaProblems(kind, doc);
  if (problems.length > 0) {
    const n = problems.length;
    throw new UsageError(
      "invalid-document",
      `${source} is not a valid ${kind} (${n} problem${n === 1 ? "" : "s"}); fix the values below`,
      { details: problems.map((p) => `${p.path || "/"}: ${p.message}`) },
    );
  }
  return doc as DocumentTypes[K];
}
