// Runs the bundled dist/track/index.js as the runner does: INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commitAll, holeyBagOf, tempDir, writeTree } from "../../../packages/core/test/helpers.js";
import { runAction as run } from "../../test-harness.js";

const dist = new URL("../../../dist/track/index.js", import.meta.url).pathname;
const engine = spawnSync("docker", ["version"]).status === 0;
const registryUp = await fetch("http://127.0.0.1:5000/v2/").then(
  (r) => r.ok,
  () => false,
);

function repo(): string {
  const dir = tempDir();
  writeTree(dir, {
    "data/train/rows.csv": "1\n2\n3\n",
    ".gitignore": ".track-run/\n",
    "track-run.yml": "model: spam-classifier\nimage: track-run/busybox:1\ndata:\n  train: data/train\n",
  });
  commitAll(dir);
  return dir;
}

/** The action as the runner runs it, in a job of acme/models on a self-hosted runner (unless env says otherwise). */
function runAction(
  cwd: string,
  inputs: Record<string, string>,
  extraEnv: NodeJS.ProcessEnv = {},
  runnerTemp?: string,
) {
  return run(dist, inputs, {
    cwd,
    ...(runnerTemp ? { runnerTemp } : {}),
    env: {
      GITHUB_ACTIONS: "true",
      GITHUB_ACTOR: "ada",
      GITHUB_REPOSITORY: "acme/models",
      GITHUB_RUN_ID: "42",
      RUNNER_NAME: "gpu-runner-1",
      RUNNER_OS: "Linux",
      RUNNER_ARCH: "X64",
      RUNNER_ENVIRONMENT: "self-hosted",
      ...extraEnv,
    },
  });
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
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/::error::no way to sign the run: pass `signing-key: \$\{\{ secrets\.… \}\}`/);
  });
});

describe.skipIf(!engine)(
  "caches on GitHub-hosted runners (@actions/cache against the cache service protocol)",
  () => {
    it("saves a fetched holey bag in one job and restores it in the next, without the data server", async () => {
      const { createServer } = await import("node:http");
      const { rmSync, mkdirSync } = await import("node:fs");
      const { startCacheService } = await import("./cache-service.js");
      const service = await startCacheService();
      const body = Buffer.from("1\n2\n3\n4\n");
      const data = createServer((_q, r) => r.end(body));
      await new Promise<void>((r) => data.listen(0, "127.0.0.1", r));
      const url = `http://127.0.0.1:${(data.address() as { port: number }).port}/rows.csv`;
      try {
        const dir = repo();
        holeyBagOf(url, body, join(dir, "remote"));
        const runnerTemp = tempDir();
        const env = {
          RUNNER_ENVIRONMENT: "github-hosted",
          ACTIONS_CACHE_URL: service.url,
          ACTIONS_RUNTIME_TOKEN: "job-token",
          GITHUB_WORKSPACE: dir,
        };
        const inputs = { data: "rows=remote", "signing-key": pem(), command: "wc -l < /data/rows/rows.csv" };
        const first = await runAction(
          dir,
          { ...inputs, command: "wc -l < $TRACK_RUN_DATA/rows/rows.csv" },
          env,
          runnerTemp,
        );
        expect(first.stdout).toContain("is not in the Actions cache yet");
        expect(first.stdout).toMatch(/saved holey bag rows \(sha256:[0-9a-f]{64}\) to the Actions cache/);
        expect(first.code).toBe(0);
        expect(service.entries.filter((e) => e.committed).map((e) => e.key)).toEqual([
          expect.stringMatching(/^track-run-bag-[0-9a-f]{64}$/),
        ]);

        // The next job: a fresh runner temp folder, and the data server is gone.
        await new Promise<void>((r) => data.close(() => r()));
        rmSync(runnerTemp, { recursive: true, force: true });
        mkdirSync(runnerTemp);
        const second = await runAction(
          dir,
          { ...inputs, command: "wc -l < $TRACK_RUN_DATA/rows/rows.csv" },
          env,
          runnerTemp,
        );
        expect(second.stdout).toMatch(
          /restored holey bag remote \(sha256:[0-9a-f]{64}\) from the Actions cache/,
        );
        expect(second.code).toBe(0);
        expect(second.stdout).toMatch(/^4$/m);
      } finally {
        data.close();
        await service.close();
      }
    });

    it.skipIf(!registryUp)(
      "saves an image pinned by digest after the job that pulled it, and loads it in the next job",
      async () => {
        const { randomBytes } = await import("node:crypto");
        const { rmSync, mkdirSync } = await import("node:fs");
        const { startCacheService } = await import("./cache-service.js");
        const service = await startCacheService();
        const ref = `127.0.0.1:5000/track-run-test/cached-${randomBytes(3).toString("hex")}:v1`;
        const d = (...a: string[]) => spawnSync("docker", a, { encoding: "utf8" });
        d("tag", "track-run/busybox:1", ref);
        d("push", ref);
        const digestRef = `${ref.slice(0, ref.lastIndexOf(":"))}@${JSON.parse(d("image", "inspect", ref, "--format", "{{json .RepoDigests}}").stdout)[0].split("@")[1]}`;
        try {
          d("image", "rm", ref);
          const dir = repo();
          const runnerTemp = tempDir();
          const env = {
            RUNNER_ENVIRONMENT: "github-hosted",
            ACTIONS_CACHE_URL: service.url,
            ACTIONS_RUNTIME_TOKEN: "t",
            GITHUB_WORKSPACE: dir,
          };
          const inputs = {
            image: digestRef,
            data: "train=data/train",
            command: "true",
            "signing-key": pem(),
          };
          const first = await runAction(dir, inputs, env, runnerTemp);
          expect(first.code).toBe(0);
          expect(first.stdout).toContain(`saved image ${digestRef} to the Actions cache`);
          d("image", "rm", digestRef);
          rmSync(runnerTemp, { recursive: true, force: true });
          mkdirSync(runnerTemp);
          const second = await runAction(dir, inputs, env, runnerTemp);
          expect(second.code).toBe(0);
          expect(second.stdout).toContain(`restored image ${digestRef} from the Actions cache`);
        } finally {
          d("image", "rm", "-f", digestRef);
          await service.close();
        }
      },
    );
  },
);
