import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { schemaProblems, UsageError, validateDocument } from "../src/index.js";
import { AJV_OPTIONS, schemaOf } from "../src/schema/validate.js";

const goodPolicy = {
  model: "spam-classifier",
  metrics: {
    accuracy: { direction: "higher", min: 0.8, max_regression: 0.01, min_improvement: 0 },
    loss: { direction: "lower", max_regression: "5%" },
  },
  provenance: { signed: true, image_pinned: true, clean_tree: true, data_valid: true, reproduced: 0 },
  significance: 0.05,
};

describe("schemas", () => {
  it("are valid against the JSON Schema 2020-12 meta-schema (not re-checked at run time)", () => {
    for (const kind of ["manifest", "policy", "config", "trust"] as const) {
      const ajv = new Ajv2020(AJV_OPTIONS);
      expect(ajv.validateSchema(schemaOf(kind)), `${kind}: ${ajv.errorsText()}`).toBe(true);
    }
  });
});

describe("schema validation", () => {
  it("accepts the policy shape the docs show", () => {
    expect(schemaProblems("policy", goodPolicy)).toEqual([]);
    expect(validateDocument("policy", goodPolicy, ".track-run/policy.yml").model).toBe("spam-classifier");
  });

  it("reports every problem at once, each with its JSON path", () => {
    const bad = {
      metrics: { accuracy: { direction: "up", max_regression: "five" }, loss: {} },
      provenance: { signed: "yes" },
      extra: 1,
    };
    const problems = schemaProblems("policy", bad);
    const lines = problems.map((p) => `${p.path || "/"}: ${p.message}`);
    expect(lines).toContain('/: missing required property "model"');
    expect(lines).toContain('/: unknown property "extra"');
    expect(lines).toContain('/metrics/accuracy/direction: must be one of "higher", "lower"');
    expect(lines).toContain('/metrics/loss: missing required property "direction"');
    expect(lines).toContain("/provenance/signed: must be boolean");
    expect(lines.some((l) => l.startsWith("/metrics/accuracy/max_regression"))).toBe(true);
  });

  it("throws a usage error naming the source and listing the problems", () => {
    let err: unknown;
    try {
      validateDocument("config", { gpus: "two gpus", timeout: -1 }, "track-run.yml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const u = err as UsageError;
    expect(u.exitCode).toBe(2);
    expect(u.message).toMatch(/^track-run.yml is not a valid config \(2 problems\)/);
    expect(u.details.join("\n")).toMatch(/\/gpus: must match pattern/);
    expect(u.details.join("\n")).toMatch(/\/timeout: must be > 0/);
  });

  it("validates a complete manifest and rejects a bad digest", () => {
    const manifest = {
      schemaVersion: "1",
      runId: "run-1",
      model: "m",
      code: { kind: "git", commit: "a".repeat(40) },
      data: [{ name: "train", digest: `sha256:${"b".repeat(64)}`, payloadOxum: "10.2", files: 2, bytes: 10 }],
      environment: { runtime: "docker", image: { reference: "python:3", id: `sha256:${"c".repeat(64)}` } },
      invocation: { command: ["python", "train.py"], seed: 1 },
      outputs: [{ path: "model.bin", sha256: "d".repeat(64), size: 3 }],
      metrics: { final: [{ name: "accuracy", value: 0.9, stage: "test" }] },
      status: { state: "succeeded", exitCode: 0 },
      timing: { startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:01:00Z" },
    };
    expect(schemaProblems("manifest", manifest)).toEqual([]);
    const broken = structuredClone(manifest);
    broken.data[0]!.digest = "sha256:xyz";
    expect(schemaProblems("manifest", broken).map((p) => p.path)).toEqual(["/data/0/digest"]);
  });
});

describe("documented examples", () => {
  it("docs/examples/manifest.json is a valid manifest", async () => {
    const { readFileSync } = await import("node:fs");
    const doc = JSON.parse(
      readFileSync(new URL("../../../docs/examples/manifest.json", import.meta.url), "utf8"),
    );
    expect(schemaProblems("manifest", doc)).toEqual([]);
  });

  it("docs/examples/policy.yml and the policy in docs/policy.md are valid policies", async () => {
    const { readFileSync } = await import("node:fs");
    const { parse } = await import("yaml");
    const file = new URL("../../../docs/examples/policy.yml", import.meta.url);
    expect(schemaProblems("policy", parse(readFileSync(file, "utf8")))).toEqual([]);
    const md = readFileSync(new URL("../../../docs/policy.md", import.meta.url), "utf8");
    const shown = /## `\.track-run\/policy\.yml`\n\n```yaml\n([\s\S]*?)```/.exec(md)![1]!;
    expect(parse(shown).model).toBe("spam-classifier");
    expect(schemaProblems("policy", parse(shown))).toEqual([]);
  });
});
