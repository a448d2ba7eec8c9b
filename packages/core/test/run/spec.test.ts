import { describe, expect, it } from "vitest";
import { resolveRunSpec } from "../../src/run/spec.js";

const cfg = {
  model: "spam-filter",
  dockerfile: "../../docker/spam-filter/Dockerfile",
  context: "../../docker/spam-filter",
  data: { corpus: "data/corpus" },
  command: ["python3", "train.py"] as [string, ...string[]],
};

describe("the run's specification from flags and track-run.yml", () => {
  it("builds the file's Dockerfile by default, paths relative to the file", () => {
    const s = resolveRunSpec({}, [], cfg, "examples/spam-filter", { ledger: "dir:.track-run/ledger" });
    expect(s.runtime).toBe("docker");
    expect(s.build).toEqual({
      dockerfile: "docker/spam-filter/Dockerfile",
      context: "docker/spam-filter",
    });
    expect(s.data).toEqual([{ name: "corpus", path: "examples/spam-filter/data/corpus" }]);
  });

  it("--runtime host overrides the file's image and Dockerfile (no Docker here)", () => {
    const s = resolveRunSpec(
      { runtime: "host" },
      [],
      { ...cfg, image: "track-run/python:3-bookworm" },
      "ex",
      {
        ledger: "dir:l",
      },
    );
    expect(s.runtime).toBe("host");
    expect(s.build).toBeUndefined();
    expect(s.image).toBeUndefined();
    expect(s.command).toEqual(["python3", "train.py"]);
  });
});
