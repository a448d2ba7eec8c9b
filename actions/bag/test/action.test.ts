// Runs the bundled dist/bag/index.js the way the runner does: INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createBag } from "../../../packages/core/src/index.js";
import { tempDir, writeTree } from "../../../packages/core/test/helpers.js";
import { runAction as run } from "../../test-harness.js";

const dist = new URL("../../../dist/bag/index.js", import.meta.url).pathname;

const runAction = (inputs: Record<string, string>) => run(dist, inputs);

describe("actions/bag (bundled)", () => {
  it("pins a data folder and sets the outputs and summary", async () => {
    const src = tempDir();
    writeTree(src, { "a.csv": "1,2\n", "b/c.csv": "3,4\n" });
    const r = await runAction({ path: src });
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({ valid: "true", files: "2", bytes: "8", "payload-oxum": "8.2" });
    expect(r.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.summary).toContain("Data pin");
    expect(r.summary).toContain(r.outputs.digest!);
  });

  it("fails the step on an invalid bag and lists the problems in the summary", async () => {
    const bag = join(tempDir(), "bag");
    const src = tempDir();
    writeTree(src, { "a.csv": "1,2\n" });
    await createBag(src, bag);
    writeFileSync(join(bag, "data/a.csv"), "9,9\n");
    const r = await runAction({ path: bag, mode: "validate" });
    expect(r.code).toBe(1);
    expect(r.outputs.valid).toBe("false");
    expect(r.stdout).toContain("::error::data/a.csv: sha256 checksum does not match manifest-sha256.txt");
    expect(r.summary).toContain("| `data/a.csv` | sha256 checksum does not match manifest-sha256.txt |");
  });

  it("rejects a bad mode input", async () => {
    const r = await runAction({ path: ".", mode: "sometimes" });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('input mode "sometimes" must be pin, validate, fast or completeness');
  });
});
