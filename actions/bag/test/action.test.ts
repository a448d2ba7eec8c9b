// Runs the bundled dist/bag/index.js the way the runner does: INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createBag } from "../../../packages/core/src/index.js";
import { tempDir, writeTree } from "../../../packages/core/test/helpers.js";

const dist = new URL("../../../dist/bag/index.js", import.meta.url).pathname;

function runAction(inputs: Record<string, string>) {
  const dir = tempDir();
  const output = join(dir, "output");
  const summary = join(dir, "summary");
  writeFileSync(output, "");
  writeFileSync(summary, "");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
    RUNNER_TEMP: dir,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const r = spawnSync(process.execPath, [dist], { env, encoding: "utf8" });
  const outputs: Record<string, string> = {};
  const text = readFileSync(output, "utf8");
  for (const m of text.matchAll(/^(.+?)<<(.+)\n([\s\S]*?)\n\2$/gm)) outputs[m[1]!] = m[3]!;
  return { code: r.status, stdout: r.stdout, outputs, summary: readFileSync(summary, "utf8") };
}

describe("actions/bag (bundled)", () => {
  it("pins a data folder and sets the outputs and summary", async () => {
    const src = tempDir();
    writeTree(src, { "a.csv": "1,2\n", "b/c.csv": "3,4\n" });
    const r = runAction({ path: src });
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
    const r = runAction({ path: bag, mode: "validate" });
    expect(r.code).toBe(1);
    expect(r.outputs.valid).toBe("false");
    expect(r.stdout).toContain("::error::data/a.csv: sha256 checksum does not match manifest-sha256.txt");
    expect(r.summary).toContain("| `data/a.csv` | sha256 checksum does not match manifest-sha256.txt |");
  });

  it("rejects a bad mode input", () => {
    const r = runAction({ path: ".", mode: "sometimes" });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('input mode "sometimes" must be pin, validate, fast or completeness');
  });
});
