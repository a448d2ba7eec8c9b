import type { RunManifest } from "../../src/index.js";

/** A complete manifest as a run records it. */
export function sampleManifest(outputs: Array<{ path: string; sha256: string; size: number }>): RunManifest {
  return {
    schemaVersion: "1",
    runId: "20260102-030405-abc123",
    model: "spam-classifier",
    code: {
      kind: "git",
      commit: "a".repeat(40),
      tree: "b".repeat(40),
      ref: "main",
      detached: false,
      remote: "https://github.com/acme/models.git",
    },
    data: [
      {
        name: "train",
        digest: `sha256:${"c".repeat(64)}`,
        payloadOxum: "1024.3",
        files: 3,
        bytes: 1024,
        location: "data/train",
      },
    ],
    environment: {
      runtime: "docker",
      image: {
        reference: "127.0.0.1:5000/acme/train:v1",
        digest: `sha256:${"d".repeat(64)}`,
        repoDigest: `127.0.0.1:5000/acme/train@sha256:${"d".repeat(64)}`,
        id: `sha256:${"e".repeat(64)}`,
        pullable: true,
      },
      host: {
        os: "Debian GNU/Linux 12",
        kernel: "6.1",
        arch: "x64",
        cpuModel: "EPYC",
        cpuCount: 2,
        memoryBytes: 1 << 30,
      },
      gpus: [],
      runner: {
        name: "gpu-1",
        os: "Linux",
        arch: "X64",
        labels: ["self-hosted", "gpu"],
        environment: "self-hosted",
      },
    },
    invocation: {
      command: ["python", "train.py"],
      params: { lr: 0.1 },
      seed: 42,
      actor: "ada",
      env: { PYTHONHASHSEED: "42" },
    },
    outputs,
    metrics: {
      final: [{ name: "accuracy", value: 0.93, stage: "test" }],
      curves: [{ name: "loss", value: 0.5, step: 1, stage: "train" }],
    },
    status: { state: "succeeded", exitCode: 0 },
    timing: {
      startedAt: "2026-01-02T03:04:05.000Z",
      finishedAt: "2026-01-02T03:09:05.000Z",
      wallSeconds: 300,
    },
  };
}
