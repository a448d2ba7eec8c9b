import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  collectMetrics,
  deviceRequests,
  flattenMetrics,
  parseCurves,
  parseGpuRequest,
  parseMetricLine,
} from "../../src/index.js";
import { tempDir } from "../helpers.js";

describe("metric capture", () => {
  it("reads ::track-run metric lines and ignores everything else", () => {
    expect(parseMetricLine("::track-run metric name=loss value=0.25 step=3 stage=train")).toEqual({
      name: "loss",
      value: 0.25,
      step: 3,
      stage: "train",
    });
    expect(parseMetricLine("::track-run metric name=acc value=0.9 stage=val")).toEqual({
      name: "acc",
      value: 0.9,
      stage: "validation",
    });
    expect(parseMetricLine("::track-run metric name=acc value=NaNx")).toBeUndefined();
    expect(parseMetricLine("epoch 3 loss=0.25")).toBeUndefined();
  });

  it("flattens final metrics: flat, nested by stage, nested by group", () => {
    expect(
      flattenMetrics({
        accuracy: 0.9,
        test: { f1: 0.8 },
        eval: { auc: 0.7 },
        details: { per_class: { spam: 0.95 } },
        step: 9,
        ok: true,
      }),
    ).toEqual([
      { name: "accuracy", value: 0.9 },
      { name: "f1", value: 0.8, stage: "test" },
      { name: "auc", value: 0.7, stage: "validation" },
      { name: "details/per_class/spam", value: 0.95 },
    ]);
  });

  it("reads curves in both JSON-lines shapes and counts bad lines", () => {
    const { curves, skipped } = parseCurves(
      '{"step":1,"stage":"train","loss":0.5,"acc":0.6}\nnot json\n{"name":"lr","value":0.01,"step":1}\n',
    );
    expect(curves).toEqual([
      { name: "loss", value: 0.5, step: 1, stage: "train" },
      { name: "acc", value: 0.6, step: 1, stage: "train" },
      { name: "lr", value: 0.01, step: 1 },
    ]);
    expect(skipped).toBe(1);
  });

  it("merges the metrics file, dvclive's files and stdout lines", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "metrics.json"), JSON.stringify({ test: { accuracy: 0.91 } }));
    mkdirSync(join(dir, "dvclive/plots/metrics/train"), { recursive: true });
    writeFileSync(join(dir, "dvclive/metrics.json"), JSON.stringify({ step: 2, f1: 0.7 }));
    writeFileSync(
      join(dir, "dvclive/plots/metrics/train/loss.tsv"),
      "timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.4\n",
    );
    const r = collectMetrics({
      lines: [
        parseMetricLine("::track-run metric name=loss value=0.3 step=2 stage=train")!,
        parseMetricLine("::track-run metric name=throughput value=120")!,
      ],
      metricsFile: join(dir, "metrics.json"),
      dvcliveDir: join(dir, "dvclive"),
    });
    expect(r.final).toEqual([
      { name: "accuracy", value: 0.91, stage: "test" },
      { name: "f1", value: 0.7 },
      { name: "loss", value: 0.3, stage: "train" },
      { name: "throughput", value: 120 },
    ]);
    expect(r.curves).toEqual([
      { name: "train/loss", value: 0.9, step: 0 },
      { name: "train/loss", value: 0.4, step: 1 },
      { name: "loss", value: 0.3, step: 2, stage: "train" },
    ]);
  });
});

describe("GPU requests", () => {
  it("builds HostConfig.DeviceRequests as `docker run --gpus` does", () => {
    expect(deviceRequests(parseGpuRequest("none")!)).toBeUndefined();
    expect(deviceRequests(parseGpuRequest("all")!)).toEqual([
      { Driver: "", Count: -1, DeviceIDs: null, Capabilities: [["gpu"]], Options: {} },
    ]);
    expect(deviceRequests(parseGpuRequest("2")!)).toEqual([
      { Driver: "", Count: 2, DeviceIDs: null, Capabilities: [["gpu"]], Options: {} },
    ]);
    expect(deviceRequests(parseGpuRequest("0,GPU-4a1f2b3c-9d8e")!)).toEqual([
      { Driver: "", Count: 0, DeviceIDs: ["0", "GPU-4a1f2b3c-9d8e"], Capabilities: [["gpu"]], Options: {} },
    ]);
    expect(parseGpuRequest("two please")).toBeUndefined();
  });
});

describe("GPU sampling", () => {
  it("samples utilisation and memory from nvidia-smi and stops at once", async () => {
    const { sampleGpus } = await import("../../src/run/gpu-sampler.js");
    const dir = tempDir();
    writeFileSync(join(dir, "nvidia-smi"), "#!/bin/sh\necho 'GPU-4a1f2b3c-9d8e, 87, 40211'\n", {
      mode: 0o755,
    });
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      const sampler = sampleGpus(60_000);
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      const samples = await sampler.stop();
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(samples[0]).toMatchObject({
        uuid: "GPU-4a1f2b3c-9d8e",
        utilizationPercent: 87,
        memoryUsedMiB: 40211,
      });
    } finally {
      process.env.PATH = path;
    }
  });
});
