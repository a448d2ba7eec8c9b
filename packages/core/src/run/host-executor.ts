import { spawn } from "node:child_process";
import { type ExecOutcome, type ExecRequest, type Executor, lineSplitter } from "./executor.js";

/** Seconds a stopped command has to end after SIGTERM before its process group gets SIGKILL. */
const GRACE_SECONDS = 5;

/** Sends `signal` to the whole process group led by `pid`; false when none of it is left. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the command on the host, for runners without Docker. Mounts become environment paths. The
 * command leads a process group of its own, so a timeout, a cancel (SIGINT/SIGTERM of track-run)
 * or the exit of track-run stops every process it started (`sh -c 'train & wait'`), not only the
 * first one.
 */
export class HostExecutor implements Executor {
  readonly kind = "host" as const;

  run(req: ExecRequest): Promise<ExecOutcome> {
    return new Promise((resolve) => {
      const [program, ...args] = req.command;
      const child = spawn(program!, args, {
        cwd: req.workdir,
        env: req.env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      const pid = child.pid;
      // track-run ending first (an uncaught error, process.exit) takes the group with it.
      const onExit = () => {
        if (pid !== undefined) signalGroup(pid, "SIGKILL");
      };
      if (pid !== undefined) process.once("exit", onExit);
      const stdout = lineSplitter(req.secrets, (l) => req.onLine("stdout", l));
      const stderr = lineSplitter(req.secrets, (l) => req.onLine("stderr", l));
      req.onStarting?.();
      child.stdout.on("data", (c: Buffer) => stdout.write(c));
      child.stderr.on("data", (c: Buffer) => stderr.write(c));
      let cancelled: string | undefined;
      let timedOut = false;
      let escalation: NodeJS.Timeout | undefined;
      const stop = () => {
        if (pid === undefined || escalation) return;
        signalGroup(pid, "SIGTERM");
        escalation = setTimeout(() => signalGroup(pid, "SIGKILL"), GRACE_SECONDS * 1000);
        escalation.unref();
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
        process.off("exit", onExit);
        resolve({
          state: "failed",
          reason: e.code === "ENOENT" ? `command not found: ${program}` : e.message,
        });
      });
      child.on("close", (code, sig) => {
        clearTimeout(timer);
        clearTimeout(escalation);
        process.off("exit", onExit);
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
