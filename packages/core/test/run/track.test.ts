// Runs on the real engine with the offline-built images.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ContainerRuntime,
  generateKeys,
  openDockerRuntime,
  pinData,
  readPrivateKey,
  readPublicKey,
  TrackRunError,
  type TrackSpec,
  trackRun,
  verifyBundle,
} from "../../src/index.js";
import { BUSYBOX, docker, dockerUp, PYTHON, registryUp, requireEngine } from "../docker-helpers.js";
import { failure, tempDir, writeTree } from "../helpers.js";
import { hostRunSpec } from "./host-run.js";

const TRAIN = `
import json, os, random, sys
random.seed(int(os.environ["TRACK_RUN_SEED"]))
rows = open(os.path.join(os.environ["TRACK_RUN_DATA"], "train", "rows.csv")).read().split()
for epoch in range(3):
    print(f"::track-run metric name=loss value={1/(epoch+1):.4f} step={epoch} stage=train", flush=True)
print("token is", os.environ.get("HF_TOKEN", "-"))
json.dump({"rows": len(rows), "w": random.random()}, open(os.path.join(os.environ["TRACK_RUN_OUTPUTS"], "model.json"), "w"))
os.makedirs(os.path.join(os.environ["TRACK_RUN_OUTPUTS"], "plots"), exist_ok=True)
open(os.path.join(os.environ["TRACK_RUN_OUTPUTS"], "plots", "curve.txt"), "w").write("x")
json.dump({"test": {"accuracy": 0.875}}, open(os.environ["TRACK_RUN_METRICS"], "w"))
# Docker's stats are sampled about once a second: a training step of a realistic length is seen.
import time; time.sleep(float(os.environ.get("TRAIN_SECONDS", "0")))
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
`;

function project(): string {
  const dir = tempDir();
  writeTree(dir, {
    "train.py": TRAIN,
    "data/train/rows.csv": "1,0\n2,1\n3,1\n",
    ".gitignore": ".track-run/\n",
  });
  const g = (...a: string[]) =>
    execFileSync("git", a, {
      cwd: dir,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@e",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@e",
      },
    });
  g("init", "-q", "-b", "main");
  g("add", "-A");
  g("commit", "-q", "-m", "train");
  return dir;
}

describe.skipIf(!dockerUp)("track a run on the real engine", () => {
  let rt: ContainerRuntime;
  let keyDir: string;
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));
  beforeAll(async () => {
    rt = await openDockerRuntime({});
    // Not tempDir(): that is removed after each test, and this key serves the whole suite.
    keyDir = mkdtempSync(join(tmpdir(), "track-run-keys-"));
    generateKeys(join(keyDir, "k"));
  });

  const spec = (repo: string, over: Partial<TrackSpec> = {}): TrackSpec => ({
    model: "demo",
    command: ["python3", "train.py"],
    repo,
    runtime: "docker",
    image: PYTHON,
    data: [{ name: "train", path: join(repo, "data/train") }],
    seed: 11,
    ledger: `dir:${join(repo, ".track-run/ledger")}`,
    signing: { key: readPrivateKey(join(keyDir, "k.key")) },
    ...over,
  });
  const ctx = (over: Record<string, unknown> = {}) => ({
    env: { HF_TOKEN: "hf_secretvalue123", EXIT_WITH: "0" },
    containers: rt,
    cacheDir: tempDir(),
    ...over,
  });

  it("records commit, image, bag digest, metrics and outputs in a signed manifest", async () => {
    const repo = project();
    const lines: string[] = [];
    const r = await trackRun(
      spec(repo, { env: ["HF_TOKEN", "TRAIN_SECONDS"] }),
      ctx({
        env: { HF_TOKEN: "hf_secretvalue123", TRAIN_SECONDS: "2" },
        onLine: (_s: string, l: string) => lines.push(l),
      }),
    );
    const m = r.manifest;
    expect(r.status).toMatchObject({ state: "succeeded", exitCode: 0 });
    expect(m.code.commit).toBe(
      execFileSync("git", ["rev-parse", "HEAD"], { cwd: repo, encoding: "utf8" }).trim(),
    );
    expect(m.code.dirty).toBeUndefined();
    expect(m.environment.image?.id).toBe(docker("image", "inspect", PYTHON, "--format", "{{.Id}}"));
    expect(m.data).toEqual([
      expect.objectContaining({
        name: "train",
        digest: (await pinData(join(repo, "data/train"))).digest,
        files: 1,
      }),
    ]);
    expect(m.metrics.final).toEqual([
      { name: "accuracy", value: 0.875, stage: "test" },
      { name: "loss", value: 0.3333, stage: "train" },
    ]);
    expect(m.metrics.curves?.map((c) => c.step)).toEqual([0, 1, 2]);
    expect(m.outputs.map((o) => o.path)).toEqual(["model.json", "plots/curve.txt"]);
    const modelPath = join(repo, ".track-run/work", r.runId, "outputs/model.json");
    expect(m.outputs[0]!.sha256).toBe(createHash("sha256").update(readFileSync(modelPath)).digest("hex"));
    expect(m.invocation).toMatchObject({
      seed: 11,
      env: { HF_TOKEN: "***", PYTHONHASHSEED: "11", CUBLAS_WORKSPACE_CONFIG: ":4096:8" },
    });
    // The secret reached the command, but neither the log nor the manifest.
    expect(lines).toContain("token is ***");
    expect(readFileSync(join(r.recordDir, "log.txt"), "utf8")).not.toContain("hf_secretvalue123");
    expect(readFileSync(r.manifestPath, "utf8")).not.toContain("hf_secretvalue123");
    expect(m.timing.peakMemoryBytes).toBeGreaterThan(0);
    expect(r.warnings.join("\n")).toMatch(/has no repository digest/);
    const v = await verifyBundle(JSON.parse(readFileSync(r.bundlePath, "utf8")), {
      keys: [readPublicKey(join(keyDir, "k.pub"))],
      subjectsDir: join(repo, ".track-run/work", r.runId, "outputs"),
      recordDir: r.recordDir,
    });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.checks.map((c) => c.name)).toContain("subject track-run/metrics.json");
  });

  it("records a failing command as failed, with its exit code, signed", async () => {
    const repo = project();
    const r = await trackRun(spec(repo, { env: ["EXIT_WITH"] }), ctx({ env: { EXIT_WITH: "3" } }));
    expect(r.status).toMatchObject({
      state: "failed",
      exitCode: 3,
      reason: "the command exited with code 3",
    });
    expect(r.status.logTailDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(r.signing).toBe("key");
    expect(existsSync(r.bundlePath)).toBe(true);
  });

  it("kills a run past its timeout and records it as failed (timeout)", async () => {
    const repo = project();
    const r = await trackRun(
      spec(repo, { image: BUSYBOX, data: [], command: ["sleep", "30"], timeoutSeconds: 1 }),
      ctx(),
    );
    expect(r.status.state).toBe("failed");
    expect(r.status.reason).toBe("timed out after 1 s; the container was killed");
    expect(r.manifest.timing.wallSeconds).toBeLessThan(15);
  });

  it("stops a cancelled run and records it as cancelled", async () => {
    const repo = project();
    const controller = new AbortController();
    setTimeout(() => controller.abort("SIGTERM"), 1500);
    const r = await trackRun(
      spec(repo, { image: BUSYBOX, data: [], command: ["sleep", "30"] }),
      ctx({ signal: controller.signal }),
    );
    expect(r.status.state).toBe("cancelled");
    expect(r.status.reason).toBe("cancelled (SIGTERM); the container was stopped");
    expect(r.manifest.timing.wallSeconds).toBeLessThan(15);
    expect(existsSync(r.bundlePath)).toBe(true);
  });

  it("names an out-of-memory kill as such", async () => {
    const repo = project();
    const r = await trackRun(
      spec(repo, {
        data: [],
        command: ["python3", "-c", "x = bytearray(512 * 1024 * 1024); print(len(x))"],
        memoryBytes: 64 * 1024 * 1024,
      }),
      ctx(),
    );
    expect(r.status.state).toBe("failed");
    expect(r.status.reason).toMatch(
      /^out of memory: the kernel killed the command at the 67108864-byte memory limit$/,
    );
  });

  it.skipIf(!registryUp)("runs a pushed image by its repository digest", async () => {
    const repo = project();
    const ref = `127.0.0.1:5000/track-run-test/run-${randomBytes(3).toString("hex")}:v1`;
    docker("tag", BUSYBOX, ref);
    docker("push", ref);
    try {
      const r = await trackRun(
        spec(repo, {
          image: ref,
          data: [],
          command: ["sh", "-c", "echo '::track-run metric name=ok value=1'"],
        }),
        ctx(),
      );
      expect(r.manifest.environment.image?.repoDigest).toMatch(
        /^127\.0\.0\.1:5000\/track-run-test\/run-[0-9a-f]+@sha256:[0-9a-f]{64}$/,
      );
      expect(r.manifest.environment.image?.pullable).toBe(true);
      expect(r.manifest.metrics.final).toEqual([{ name: "ok", value: 1 }]);
      expect(r.warnings.join("\n")).not.toMatch(/repository digest/);
    } finally {
      docker("image", "rm", "-f", ref);
    }
  });

  const hostHasGpu = spawnSync("nvidia-smi", ["-L"]).status === 0;
  it.skipIf(hostHasGpu)("refuses GPUs on a host without any, before anything runs", async () => {
    const repo = project();
    const err = await failure(trackRun(spec(repo, { gpus: "all" }), ctx()));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/--gpus all was asked for, but this host has no NVIDIA GPU/);
  });

  it("refuses bad input before anything runs, naming every problem", async () => {
    const repo = project();
    writeFileSync(join(repo, "taken"), "x");
    const err = await failure(
      trackRun(
        spec(repo, {
          data: [
            { name: "train", path: "/nonexistent/train" },
            { name: "bad name", path: repo },
          ],
          gpus: "lots",
          timeoutSeconds: -1,
        }),
        ctx(),
      ),
    );
    expect(err).toBeInstanceOf(TrackRunError);
    expect(err.exitCode).toBe(2);
    expect(err.details).toEqual([
      '--data train=/nonexistent/train: "/nonexistent/train" does not exist',
      `--data "bad name" is not a data name: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters`,
      '--gpus "lots" must be none, all, a count, or GPU indexes/UUIDs separated by commas',
      "--timeout must be a positive number of seconds",
    ]);
    // Nothing started: no run folder (made before any container) and no record.
    expect(existsSync(join(repo, ".track-run/work"))).toBe(false);
    expect(existsSync(join(repo, ".track-run/ledger"))).toBe(false);
  });
});

describe("track a run on the host", () => {
  it("runs without Docker and records the interpreters instead of an image", async () => {
    const repo = project();
    const script =
      "const fs=require('fs');fs.writeFileSync(process.env.TRACK_RUN_OUTPUTS+'/out.txt',fs.readFileSync(process.env.TRACK_RUN_DATA+'/train/rows.csv'));console.log('::track-run metric name=rows value=3')";
    const r = await trackRun(hostRunSpec(repo, script), { env: { PATH: process.env.PATH } });
    expect(r.status.state).toBe("succeeded");
    expect(r.manifest.environment.runtime).toBe("host");
    expect(r.manifest.environment.image).toBeUndefined();
    expect(Object.keys(r.manifest.environment.interpreters ?? {})).toContain("node");
    expect(r.manifest.outputs).toEqual([expect.objectContaining({ path: "out.txt", size: 12 })]);
    expect(r.manifest.metrics.final).toEqual([{ name: "rows", value: 3 }]);
  });
});

requireEngine();

describe("--metrics", () => {
  it("reads the final metrics from a file the command writes among its outputs", async () => {
    const repo = project();
    const script =
      "const fs=require('fs');fs.mkdirSync(process.env.TRACK_RUN_OUTPUTS+'/eval');fs.writeFileSync(process.env.TRACK_RUN_METRICS, JSON.stringify({test:{f1:0.81}}))";
    const r = await trackRun(hostRunSpec(repo, script, { data: [], metricsFile: "eval/metrics.json" }), {
      env: { PATH: process.env.PATH },
    });
    expect(r.manifest.metrics.final).toEqual([{ name: "f1", value: 0.81, stage: "test" }]);
    expect(r.manifest.outputs.map((o) => o.path)).toEqual(["eval/metrics.json"]);
    const bad = await failure(
      trackRun(
        {
          model: "demo",
          command: ["true"],
          repo,
          runtime: "host",
          data: [],
          metricsFile: "../up.json",
          ledger: "dir:x",
          signing: { unsigned: true },
        },
        { env: {} },
      ),
    );
    expect(bad.message).toBe('--metrics "../up.json" must be a relative path inside the outputs folder');
  });
});
