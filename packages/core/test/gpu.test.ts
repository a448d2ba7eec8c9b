import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCudaVersion, parseGpuCsv, parseMigList, probeGpus } from "../src/index.js";

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/nvidia-smi/${name}`, import.meta.url), "utf8");

describe("nvidia-smi parsing", () => {
  it("reads one GPU with its driver, memory and compute capability", () => {
    const [gpu, ...rest] = parseGpuCsv(fixture("one-h100.csv"), parseCudaVersion(fixture("banner.txt")));
    expect(rest).toEqual([]);
    expect(gpu).toEqual({
      index: 0,
      name: "NVIDIA H100 80GB HBM3",
      uuid: "GPU-4a1f2b3c-9d8e-7f6a-5b4c-3d2e1f0a9b8c",
      driverVersion: "550.54.15",
      memoryMiB: 81559,
      computeCapability: "9.0",
      cudaVersion: "12.4",
    });
  });

  it("reads several GPUs in index order", () => {
    const gpus = parseGpuCsv(fixture("four-a100.csv"));
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3]);
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(4);
  });

  it("lists MIG devices under their parent GPU", () => {
    const parents = parseGpuCsv(fixture("four-a100.csv"));
    const migs = parseMigList(fixture("mig-L.txt"), parents);
    expect(migs).toHaveLength(2);
    expect(migs[0]).toMatchObject({
      mig: true,
      parentUuid: parents[0]!.uuid,
      name: "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
    });
    expect(migs[1]!.uuid).toBe("MIG-d7e5a2f3-1b2c-5d3e-8f4a-5b6c7d8e9f0a");
  });

  it("treats a missing nvidia-smi as no GPUs, not an error", async () => {
    expect(await probeGpus("nvidia-smi-that-does-not-exist")).toEqual({
      state: "absent",
      reason: "nvidia-smi-that-does-not-exist not found",
    });
  });
});
