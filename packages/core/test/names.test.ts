import { describe, expect, it } from "vitest";
import { TrackRunError } from "../src/errors.js";
import { validateDocument } from "../src/schema/index.js";
import {
  assertName,
  assertOutputPath,
  isName,
  isOutputPath,
  NAME_PATTERN,
  outputPathProblem,
} from "../src/util/names.js";
import { sampleManifest } from "./sign/fixtures.js";

function thrown(f: () => unknown): TrackRunError {
  try {
    f();
  } catch (e) {
    if (e instanceof TrackRunError) return e;
    throw e;
  }
  throw new Error("expected a TrackRunError");
}

describe("names: run ids, model names, data names", () => {
  it.each([
    "spam",
    "spam-filter_v2.1",
    "20260102-030405-abc123",
    "A",
    "9lives",
    "a".repeat(128),
  ])("accepts %j", (name) => {
    expect(isName(name)).toBe(true);
    expect(assertName("model", name, "--model")).toBe(name);
  });

  it.each([
    "",
    ".",
    "..",
    "../../x",
    "a/b",
    "a\\b",
    "/abs",
    ".hidden",
    "-flag",
    "_x",
    "a b",
    "a\nb",
    "a\0b",
    "é",
    "a".repeat(129),
  ])("refuses %j", (name) => {
    expect(isName(name)).toBe(false);
    const e = thrown(() => assertName("run", name, "promote RUN"));
    expect(e.exitCode).toBe(2);
    expect(e.code).toBe("bad-run-name");
  });

  it("names the input as written and the allowed form", () => {
    expect(thrown(() => assertName("model", "../../x", "--model")).message).toBe(
      `--model "../../x" is not a model name: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters`,
    );
    expect(thrown(() => assertName("data", "../x", "--data")).message).toMatch(
      /^--data "..\/x" is not a data name: /,
    );
    expect(thrown(() => assertName("run", "a/b", "show RUN")).message).toMatch(
      /^show RUN "a\/b" is not a run id: /,
    );
  });

  it("shows a long name cut, with its length, and escapes control characters", () => {
    const m = thrown(() => assertName("model", "m".repeat(300), "--model")).message;
    expect(m).toMatch(/^--model "m{48}…" \(300 characters\) is not a model name: .*at most 128 characters$/);
    expect(thrown(() => assertName("model", "a\nb", "--model")).message).toMatch(/^--model "a\\nb" is not/);
  });

  it("is the pattern of the schemas: manifest model, run id and data names; policy and config model", () => {
    expect(NAME_PATTERN.source).toBe("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$");
    const good = sampleManifest([]);
    expect(() => validateDocument("manifest", good, "m")).not.toThrow();
    const problems = (f: () => unknown) => thrown(f).details.join("\n");
    for (const model of ["../x", "m".repeat(129)]) {
      expect(problems(() => validateDocument("manifest", { ...good, model }, "m"))).toMatch(/^\/model/);
      expect(problems(() => validateDocument("policy", { model }, "policy.yml"))).toMatch(/^\/model/);
      expect(problems(() => validateDocument("config", { model }, "track-run.yml"))).toMatch(/^\/model/);
    }
    expect(problems(() => validateDocument("config", { data: { ["d".repeat(129)]: "x" } }, "c"))).toMatch(
      /^\/data/,
    );
    expect(() => validateDocument("policy", { model: "m".repeat(128) }, "policy.yml")).not.toThrow();
  });
});

describe("output names: relative paths inside the outputs folder", () => {
  it.each([
    "model.bin",
    "ckpt/epoch 3/weights.pt",
    "dvclive/metrics.json",
    "..x",
    "a..b/c",
    "~x",
  ])("accepts %j", (p) => {
    expect(isOutputPath(p)).toBe(true);
    expect(assertOutputPath(p, "subject")).toBe(p);
  });

  it.each([
    ["", "is empty"],
    ["/etc/passwd", "is an absolute path"],
    ["../x", "has a '..' part"],
    ["a/../../x", "has a '..' part"],
    ["./x", "has a '.' part"],
    ["a//b", "has an empty part"],
    ["a/", "has an empty part"],
    ["..\\x", "has a backslash"],
    ["C:x", "starts with a drive letter"],
    ["a\nb", "has a control character"],
    ["a\0b", "has a control character"],
    ["P".repeat(256), "has a part longer than 255 bytes"],
    ["x/".repeat(2048).concat("x"), "is longer than 4096 characters"],
  ])("refuses %# (%s)", (p, why) => {
    expect(outputPathProblem(p)).toContain(why);
    const e = thrown(() => assertOutputPath(p, "subject"));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/is not an output name: it /);
  });
});
