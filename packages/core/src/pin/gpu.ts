import type { Gpu } from "../__generated__/index.js";
import { execProgram, NOT_FOUND } from "../util/exec.js";

/** The nvidia-smi query whose CSV output `parseGpuCsv` reads. */
export const GPU_QUERY_FIELDS = [
  "index",
  "name",
  "uuid",
  "driver_version",
  "memory.total",
  "compute_cap",
] as const;

/**
 * Parses `nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,compute_cap
 * --format=csv,noheader,nounits`. Values may contain commas only in the name, so fields are
 * taken from both ends.
 */
export function parseGpuCsv(csv: string, cudaVersion?: string): Gpu[] {
  const gpus: Gpu[] = [];
  for (const raw of csv.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const parts = line.split(",").map((s) => s.trim());
    if (parts.length < GPU_QUERY_FIELDS.length) continue;
    const [index, ...rest] = parts;
    const computeCap = rest.pop()!;
    const memory = rest.pop()!;
    const driver = rest.pop()!;
    const uuid = rest.pop()!;
    const name = rest.join(", ");
    const gpu: Gpu = { index: Number(index), name, uuid, driverVersion: driver };
    const mem = Number.parseInt(memory, 10);
    if (Number.isFinite(mem)) gpu.memoryMiB = mem;
    if (computeCap && computeCap !== "[N/A]") gpu.computeCapability = computeCap;
    if (cudaVersion) gpu.cudaVersion = cudaVersion;
    gpus.push(gpu);
  }
  return gpus;
}

/** The "CUDA Version: 12.4" of nvidia-smi's banner, if present. */
export function parseCudaVersion(banner: string): string | undefined {
  return /CUDA Version:\s*([0-9.]+)/.exec(banner)?.[1];
}

/**
 * MIG devices from `nvidia-smi -L`, e.g.
 *   GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5d5b…)
 *     MIG 1g.5gb      Device  0: (UUID: MIG-c6d4…)
 */
export function parseMigList(list: string, parents: readonly Gpu[]): Gpu[] {
  const out: Gpu[] = [];
  let parent: Gpu | undefined;
  for (const line of list.split(/\r?\n/)) {
    const g = /^GPU (\d+): .*\(UUID: ([^)]+)\)/.exec(line.trim());
    if (g) {
      parent = parents.find((p) => p.uuid === g[2]) ?? parents.find((p) => p.index === Number(g[1]));
      continue;
    }
    const m = /^MIG (\S+)\s+Device\s+(\d+): \(UUID: ([^)]+)\)/.exec(line.trim());
    if (m && parent) {
      const mig: Gpu = {
        index: Number(m[2]),
        name: `${parent.name} MIG ${m[1]}`,
        uuid: m[3]!,
        mig: true,
        parentUuid: parent.uuid,
      };
      if (parent.driverVersion) mig.driverVersion = parent.driverVersion;
      if (parent.cudaVersion) mig.cudaVersion = parent.cudaVersion;
      if (parent.computeCapability) mig.computeCapability = parent.computeCapability;
      out.push(mig);
    }
  }
  return out;
}

export type GpuProbe =
  | { state: "absent"; reason: string }
  | { state: "error"; reason: string }
  | { state: "present"; gpus: Gpu[] };

/** Asks the real nvidia-smi. No nvidia-smi (or no GPU) is "absent", never an exception. */
export async function probeGpus(program = "nvidia-smi"): Promise<GpuProbe> {
  const query = await execProgram(
    program,
    [`--query-gpu=${GPU_QUERY_FIELDS.join(",")}`, "--format=csv,noheader,nounits"],
    { timeoutMs: 20_000 },
  );
  if (query === NOT_FOUND) return { state: "absent", reason: `${program} not found` };
  if (query.code !== 0) {
    const msg = (query.stderr || query.stdout).trim().split("\n")[0] ?? "";
    if (
      /No devices were found|couldn't communicate with the NVIDIA driver/i.test(query.stdout + query.stderr)
    ) {
      return { state: "absent", reason: msg };
    }
    return { state: "error", reason: `${program} exited ${query.code}: ${msg}` };
  }
  const banner = await execProgram(program, [], { timeoutMs: 20_000 });
  const cuda = banner === NOT_FOUND ? undefined : parseCudaVersion(banner.stdout);
  const gpus = parseGpuCsv(query.stdout, cuda);
  const list = await execProgram(program, ["-L"], { timeoutMs: 20_000 });
  const migs = list === NOT_FOUND || list.code !== 0 ? [] : parseMigList(list.stdout, gpus);
  return { state: "present", gpus: [...gpus, ...migs] };
}
