// Runs a bundled action the way the runner does: INPUT_* variables, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files, RUNNER_TEMP; returns its exit code, log, outputs and summary.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../packages/core/test/helpers.js";

export interface ActionRun {
  code: number | null;
  stdout: string;
  outputs: Record<string, string>;
  summary: string;
}

export async function runAction(
  dist: string,
  inputs: Record<string, string>,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; runnerTemp?: string } = {},
): Promise<ActionRun> {
  const dir = options.runnerTemp ?? tempDir();
  const output = join(dir, "output");
  const summary = join(dir, "summary");
  writeFileSync(output, "");
  writeFileSync(summary, "");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
    RUNNER_TEMP: dir,
    ...options.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(process.execPath, [dist], { cwd: options.cwd, env });
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stdout += d));
  const code = await new Promise<number | null>((r) => child.on("close", r));
  const outputs: Record<string, string> = {};
  for (const m of readFileSync(output, "utf8").matchAll(/^(.+?)<<(.+)\n([\s\S]*?)\n\2$/gm))
    outputs[m[1]!] = m[3]!;
  return { code, stdout, outputs, summary: readFileSync(summary, "utf8") };
}
