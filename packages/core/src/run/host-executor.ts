import { spawn } from "node:child_process";
import { type ExecOutcome, type ExecRequest, type Executor, lineSplitter } from "./executor.js";

/** Runs the command on the host, for runners without Docker. Mounts become environment paths. */
export class HostExecutor implements Executor {
  readonly kind = "host" as const;

  run(req: ExecRequest): Promise<ExecOutcome> {
    return new Promise((resolve) => {
      const [program, ...args] = req.command;
      const child = spawn(program!, args, {
        cwd: req.workdir,
        env: req.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const stdout = lineSplitter(req.secrets, (l) => req.onLine("stdout", l));
      const stderr = lineSplitter(req.secrets, (l) => req.onLine("stderr", l));
      child.stdout.on("data", (c: Buffer) => stdout.write(c));
      child.stderr.on("data", (c: Buffer) => stderr.write(c));
      let cancelled: string | undefined;
      let timedOut = false;
      const stop = () => {
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
      };
      const timer = req.timeoutSeconds
        ? setTimeout(() => {
            timedOut = true;
            stop();
          }, req.timeoutSeconds * 1000)
        : undefined;
      const onAbort = () => {
        cancelled = String(req.signal?.reason ?? "cancelled");
        stop();
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      child.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({
          state: "failed",
          reason: e.code === "ENOENT" ? `command not found: ${program}` : e.message,
        });
      });
      child.on("close", (code, sig) => {
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
        stdout.end();
        stderr.end();
        const exitCode = code ?? (sig ? 128 : 1);
        if (cancelled)
          resolve({
            state: "cancelled",
            exitCode,
            reason: `cancelled (${cancelled}); the command was stopped`,
          });
        else if (timedOut)
          resolve({
            state: "failed",
            exitCode,
            reason: `timed out after ${req.timeoutSeconds} s; the command was killed`,
          });
        else if (exitCode !== 0)
          resolve({
            state: "failed",
            exitCode,
            reason: sig ? `the command was killed by ${sig}` : `the command exited with code ${exitCode}`,
          });
        else resolve({ state: "succeeded", exitCode });
      });
    });
  }
}
