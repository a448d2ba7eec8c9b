// Executors run the training command and report how it ended. The Docker executor runs it in the
// pinned image; the host executor runs it directly, for runners without Docker.
import type { Gpu } from "../__generated__/index.js";
import { SecretMasker } from "../util/secrets.js";

export interface Mount {
  host: string;
  container: string;
  readOnly: boolean;
}

/** --gpus: none, all, a count, or a comma-separated list of indexes or UUIDs. */
export type GpuRequest =
  | { kind: "none" }
  | { kind: "all" }
  | { kind: "count"; count: number }
  | { kind: "ids"; ids: string[] };

export function parseGpuRequest(value: string | undefined): GpuRequest | undefined {
  const v = (value ?? "none").trim();
  if (v === "none" || v === "") return { kind: "none" };
  if (v === "all") return { kind: "all" };
  if (/^[0-9]+$/.test(v)) return Number(v) === 0 ? { kind: "none" } : { kind: "count", count: Number(v) };
  const ids = v.split(",").map((s) => s.trim());
  // Device indexes, or GPU/MIG UUIDs as nvidia-smi -L prints them.
  return ids.every((s) => /^([0-9]+|(GPU|MIG)-[0-9A-Fa-f-]+)$/.test(s)) ? { kind: "ids", ids } : undefined;
}

export function describeGpuRequest(g: GpuRequest): string {
  switch (g.kind) {
    case "none":
      return "none";
    case "all":
      return "all";
    case "count":
      return String(g.count);
    case "ids":
      return g.ids.join(",");
    default: {
      const never: never = g;
      return never;
    }
  }
}

/** HostConfig.DeviceRequests as `docker run --gpus` builds them. */
export function deviceRequests(g: GpuRequest): Array<Record<string, unknown>> | undefined {
  switch (g.kind) {
    case "none":
      return undefined;
    case "all":
      return [{ Driver: "", Count: -1, DeviceIDs: null, Capabilities: [["gpu"]], Options: {} }];
    case "count":
      return [{ Driver: "", Count: g.count, DeviceIDs: null, Capabilities: [["gpu"]], Options: {} }];
    case "ids":
      return [{ Driver: "", Count: 0, DeviceIDs: g.ids, Capabilities: [["gpu"]], Options: {} }];
    default: {
      const never: never = g;
      return never;
    }
  }
}

export interface ExecRequest {
  runId: string;
  command: string[];
  /** The complete environment of the command. */
  env: Record<string, string>;
  /** Values masked in every log line. */
  secrets: readonly string[];
  /** Host folder the command runs in (docker: mounted read-only at /workspace). */
  workdir: string;
  mounts: readonly Mount[];
  gpus: GpuRequest;
  network: "bridge" | "none";
  memoryBytes?: number;
  timeoutSeconds?: number;
  /** uid:gid the container runs as, so outputs belong to the runner user. */
  user?: string;
  signal?: AbortSignal;
  onLine: (stream: "stdout" | "stderr", line: string) => void;
  /**
   * Called once the command has been asked to start, while it starts and runs: the caller's
   * chance to do work of its own in that wait (without delaying the start).
   */
  onStarting?: () => void;
}

export interface GpuSample {
  at: string;
  uuid: string;
  utilizationPercent: number;
  memoryUsedMiB: number;
}

export interface ExecOutcome {
  state: "succeeded" | "failed" | "cancelled";
  exitCode?: number;
  /** Why it did not succeed, in words. */
  reason?: string;
  cpuSeconds?: number;
  peakMemoryBytes?: number;
  gpuSamples?: GpuSample[];
}

export interface Executor {
  readonly kind: "docker" | "host";
  run(req: ExecRequest): Promise<ExecOutcome>;
}

/**
 * Splits a byte stream into lines, masks secrets (a multi-line value line by line) and credentials
 * in URLs, and hands each line on.
 */
export function lineSplitter(
  secrets: readonly string[],
  onLine: (line: string) => void,
): { write(chunk: Buffer | string): void; end(): void } {
  let pending = "";
  const masker = new SecretMasker(secrets);
  const emit = (line: string) => onLine(masker.scrub(line));
  return {
    write(chunk) {
      pending += chunk.toString();
      let i = pending.indexOf("\n");
      while (i >= 0) {
        emit(pending.slice(0, i).replace(/\r$/, ""));
        pending = pending.slice(i + 1);
        i = pending.indexOf("\n");
      }
    },
    end() {
      if (pending) emit(pending);
      pending = "";
    },
  };
}

export type { Gpu };

/**
 * The user the container runs as so that what it writes (outputs, caches) belongs to whoever
 * started the run: this process's uid:gid, where the platform has them (not on Windows).
 */
export function userOfThisProcess(): { user?: string } {
  return typeof process.getuid === "function"
    ? { user: `${process.getuid()}:${process.getgid?.() ?? 0}` }
    : {};
}
