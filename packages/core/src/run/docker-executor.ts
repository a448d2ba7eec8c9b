import { PassThrough } from "node:stream";
import type { ContainerRuntime } from "../docker/runtime.js";
import {
  deviceRequests,
  type ExecOutcome,
  type ExecRequest,
  type Executor,
  lineSplitter,
} from "./executor.js";
import { sampleGpus } from "./gpu-sampler.js";

/** Runs the command in a container of the pinned image: repository read-only, outputs read-write. */
export class DockerExecutor implements Executor {
  readonly kind = "docker" as const;
  constructor(
    private readonly rt: ContainerRuntime,
    /** What to run: name@sha256:… when pullable, else the image ID. */
    private readonly image: string,
  ) {}

  async run(req: ExecRequest): Promise<ExecOutcome> {
    const docker = this.rt.client;
    const requests = deviceRequests(req.gpus);
    const container = await docker.createContainer({
      Image: this.image,
      Cmd: req.command,
      WorkingDir: "/workspace",
      Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
      ...(req.user ? { User: req.user } : {}),
      Tty: false,
      AttachStdout: true,
      AttachStderr: true,
      Labels: { "dev.track-run.run-id": req.runId },
      HostConfig: {
        Binds: [
          `${req.workdir}:/workspace:ro`,
          ...req.mounts.map((m) => `${m.host}:${m.container}:${m.readOnly ? "ro" : "rw"}`),
        ],
        NetworkMode: req.network,
        ...(requests ? { DeviceRequests: requests } : {}),
        ...(req.memoryBytes ? { Memory: req.memoryBytes, MemorySwap: req.memoryBytes } : {}),
        AutoRemove: false,
        // An init as PID 1 forwards signals: a cancelled run stops at once instead of at the stop timeout.
        Init: true,
      },
    } as Parameters<typeof docker.createContainer>[0]);
    let cancelled: string | undefined;
    let timedOut = false;
    const stdout = lineSplitter(req.secrets, (l) => req.onLine("stdout", l));
    const stderr = lineSplitter(req.secrets, (l) => req.onLine("stderr", l));
    try {
      const stream = (await container.attach({
        stream: true,
        stdout: true,
        stderr: true,
      })) as NodeJS.ReadableStream;
      const out = new PassThrough();
      const err = new PassThrough();
      out.on("data", (c: Buffer) => stdout.write(c));
      err.on("data", (c: Buffer) => stderr.write(c));
      container.modem.demuxStream(stream, out, err);
      const streamEnded = new Promise<void>((r) => stream.on("end", () => r()));
      // Registered before start: the default "not-running" condition would return at once for a created container.
      const waiting = container.wait({ condition: "next-exit" });
      const starting = container.start();
      req.onStarting?.();
      await starting;
      const started = Date.now();

      // Peak memory and CPU from the engine's stats stream.
      let peak = 0;
      let cpuNs = 0;
      // Not awaited: for a command that has already exited, the engine may never answer a stats
      // request, so the request is aborted once the container is done.
      const statsAbort = new AbortController();
      let stats: NodeJS.ReadableStream | undefined;
      const statLines = lineSplitter([], (l) => {
        try {
          const s = JSON.parse(l) as {
            memory_stats?: { max_usage?: number; usage?: number };
            cpu_stats?: { cpu_usage?: { total_usage?: number } };
          };
          peak = Math.max(peak, s.memory_stats?.max_usage ?? 0, s.memory_stats?.usage ?? 0);
          cpuNs = Math.max(cpuNs, s.cpu_stats?.cpu_usage?.total_usage ?? 0);
        } catch {
          // a partial line
        }
      });
      const statsStarted = container
        .stats({ stream: true, abortSignal: statsAbort.signal } as { stream: true })
        .then((st) => {
          stats = st as NodeJS.ReadableStream;
          stats.on("data", (c: Buffer) => statLines.write(c));
          stats.on("error", () => undefined);
        })
        .catch(() => undefined);
      const gpu = req.gpus.kind === "none" ? undefined : sampleGpus(5000);

      const timer = req.timeoutSeconds
        ? setTimeout(() => {
            timedOut = true;
            container.kill().catch(() => undefined);
          }, req.timeoutSeconds * 1000)
        : undefined;
      const onAbort = () => {
        cancelled = String(req.signal?.reason ?? "cancelled");
        container.stop({ t: 5 }).catch(() => undefined);
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      if (req.signal?.aborted) onAbort();
      const { StatusCode } = (await waiting) as { StatusCode: number };
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
      // The log stream normally ends with the container; give it two seconds at most, and clear the timer.
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([streamEnded, new Promise((r) => (grace = setTimeout(r, 2000)))]);
      clearTimeout(grace);
      stdout.end();
      stderr.end();
      // Both are sockets to the engine: left open, they keep the process alive after the run.
      statsAbort.abort();
      await statsStarted;
      (stats as unknown as { destroy?: () => void } | undefined)?.destroy?.();
      (stream as unknown as { destroy?: () => void }).destroy?.();
      const samples = gpu ? await gpu.stop() : undefined;
      const info = await container.inspect();
      const outcome: ExecOutcome = { state: "succeeded", exitCode: StatusCode };
      if (peak) outcome.peakMemoryBytes = peak;
      if (cpuNs) outcome.cpuSeconds = cpuNs / 1e9;
      if (samples) outcome.gpuSamples = samples;
      if (cancelled)
        return {
          ...outcome,
          state: "cancelled",
          reason: `cancelled (${cancelled}); the container was stopped`,
        };
      if (timedOut)
        return {
          ...outcome,
          state: "failed",
          reason: `timed out after ${req.timeoutSeconds} s; the container was killed`,
        };
      if (info.State.OOMKilled) {
        return {
          ...outcome,
          state: "failed",
          reason: `out of memory: the kernel killed the command at the ${req.memoryBytes ? `${req.memoryBytes}-byte ` : ""}memory limit`,
        };
      }
      if (StatusCode !== 0)
        return { ...outcome, state: "failed", reason: `the command exited with code ${StatusCode}` };
      void started;
      return outcome;
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
    }
  }
}
