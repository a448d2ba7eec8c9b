// Runs the bundled dist/track/index.js as the runner does: INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP.
import { spawn, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir, writeTree } from "../../../packages/core/test/helpers.js";

const dist = new URL("../../../dist/track/index.js", import.meta.url).pathname;
const engine = spawnSync("docker", ["version"]).status === 0;

function repo(): string {
  const dir = tempDir();
  writeTree(dir, {
    "data/train/rows.csv": "1\n2\n3\n",
    ".gitignore": ".track-run/\n",
    "track-run.yml": "model: spam-classifier\nimage: track-run/busybox:1\ndata:\n  train: data/train\n",
  });
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@e",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@e",
  };
  for (const a of [
    ["init", "-q", "-b", "main"],
    ["add", "-A"],
    ["commit", "-q", "-m", "x"],
  ])
    spawnSync("git", a, { cwd: dir, env });
  return dir;
}

async function runAction(cwd: string, inputs: Record<string, string>) {
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
    GITHUB_ACTIONS: "true",
    GITHUB_ACTOR: "ada",
    GITHUB_REPOSITORY: "acme/models",
    GITHUB_RUN_ID: "42",
    RUNNER_NAME: "gpu-runner-1",
    RUNNER_OS: "Linux",
    RUNNER_ARCH: "X64",
    RUNNER_ENVIRONMENT: "self-hosted",
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(process.execPath, [dist], { cwd, env });
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stdout += d));
  const code = await new Promise<number | null>((r) => child.on("close", r));
  const outputs: Record<string, string> = {};
  for (const m of readFileSync(output, "utf8").matchAll(/^(.+?)<<(.+)\n([\s\S]*?)\n\2$/gm))
    outputs[m[1]!] = m[3]!;
  return { code, stdout, outputs, summary: readFileSync(summary, "utf8") };
}

const pem = () =>
  generateKeyPairSync("ec", { namedCurve: "prime256v1" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();

describe.skipIf(!engine)("the root action (bundled)", () => {
  it("tracks a run: outputs, grouped log, step summary with pins and metrics", async () => {
    const dir = repo();
    const key = pem();
    const r = await runAction(dir, {
      command:
        "wc -l < /data/train/rows.csv > $TRACK_RUN_OUTPUTS/count.txt && echo '::track-run metric name=accuracy value=0.93 stage=test'",
      "signing-key": key,
      seed: "5",
    });
    expect(r.code).toBe(0);
    expect(r.outputs.status).toBe("succeeded");
    expect(r.outputs["run-id"]).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(existsSync(r.outputs.bundle!)).toBe(true);
    const m = JSON.parse(readFileSync(r.outputs.manifest!, "utf8"));
    expect(m).toMatchObject({
      model: "spam-classifier",
      invocation: { actor: "ada", workflowRun: "https://github.com/acme/models/actions/runs/42", seed: 5 },
    });
    expect(m.environment.runner).toEqual({
      name: "gpu-runner-1",
      os: "Linux",
      arch: "X64",
      environment: "self-hosted",
    });
    expect(m.outputs).toEqual([expect.objectContaining({ path: "count.txt" })]);
    expect(r.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.stdout).toContain("::group::track-run: pinning code, data and environment");
    expect(r.stdout).toContain("::endgroup::");
    // The key's body reaches the runner only inside ::add-mask:: commands, which it swallows.
    const body = key.split("\n").filter((l) => l && !l.startsWith("-----"));
    const shown = r.stdout
      .split("\n")
      .filter((l) => !l.startsWith("::add-mask::"))
      .join("\n");
    for (const l of body) expect(shown).not.toContain(l);
    expect(r.stdout).toContain(`::add-mask::${body[0]}`);
    expect(r.summary).toContain("spam-classifier: run");
    expect(r.summary).toMatch(/<td>accuracy<\/td><td>test<\/td><td>0\.93<\/td>/);
    expect(r.summary).toContain("signed: <b>key</b>");
  });

  it("fails the step on a failing command, still recording and summarising the run", async () => {
    const dir = repo();
    const r = await runAction(dir, { command: "echo boom; exit 7", "signing-key": pem() });
    expect(r.code).toBe(1);
    expect(r.outputs.status).toBe("failed");
    expect(r.stdout).toMatch(/::error::run \S+ failed: the command exited with code 7/);
    expect(r.summary).toMatch(/❌ spam-classifier: run \S+ failed/);
    expect(existsSync(r.outputs.bundle!)).toBe(true);
  });

  it("refuses to run with no way to sign", async () => {
    const dir = repo();
    const r = await runAction(dir, { command: "true" });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/::error::no way to sign: pass `signing-key/);
  });
});
