// GPU utilisation and memory samples while a run uses GPUs (nvidia-smi, every few seconds).
import { execProgram, NOT_FOUND } from "../util/exec.js";
import type { GpuSample } from "./executor.js";

export function sampleGpus(intervalMs: number): { stop(): Promise<GpuSample[]> } {
  const samples: GpuSample[] = [];
  let running = true;
  const take = async () => {
    const r = await execProgram(
      "nvidia-smi",
      ["--query-gpu=uuid,utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
      {
        timeoutMs: 10_000,
      },
    );
    if (r === NOT_FOUND || r.code !== 0) return;
    const at = new Date().toISOString();
    for (const line of r.stdout.split("\n")) {
      const [uuid, util, mem] = line.split(",").map((s) => s.trim());
      if (uuid && util !== undefined && mem !== undefined) {
        samples.push({ at, uuid, utilizationPercent: Number(util), memoryUsedMiB: Number(mem) });
      }
    }
  };
  // The sleep between samples is woken and cleared on stop, so no timer outlives the run.
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      await take();
      if (!running) break;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, intervalMs);
      });
    }
  })();
  return {
    async stop() {
      running = false;
      clearTimeout(timer);
      wake?.();
      await loop;
      return samples;
    },
  };
}
