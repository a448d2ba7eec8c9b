// The host executor stops the whole command, not only the process it started: a shell's children
// (sh -c 'sleep 12') go too, on a timeout and on cancel.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HostExecutor } from "../../src/run/host-executor.js";
import { tempDir } from "../helpers.js";

/** Whether `pid` still runs (a zombie waiting for its reaper has ended). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
};

/** A shell that starts a grandchild (sleep 12), writes its pid, and waits for it. */
function request(dir: string, over: Record<string, unknown> = {}) {
  return {
    runId: "t",
    command: ["sh", "-c", `sleep 12 & echo $! > ${join(dir, "pid")}; wait`],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    secrets: [],
    workdir: dir,
    mounts: [],
    gpus: { kind: "none" as const },
    network: "bridge" as const,
    onLine: () => undefined,
    ...over,
  };
}

async function grandchild(dir: string): Promise<number> {
  for (let i = 0; i < 50 && !existsSync(join(dir, "pid")); i++) await new Promise((r) => setTimeout(r, 50));
  return Number(readFileSync(join(dir, "pid"), "utf8"));
}

describe.skipIf(spawnSync("sh", ["-c", "true"]).status !== 0)("host executor", () => {
  it("kills the whole process group at the timeout, in about the timeout", async () => {
    const dir = tempDir();
    const started = Date.now();
    const outcome = await new HostExecutor().run(request(dir, { timeoutSeconds: 1 }));
    const seconds = (Date.now() - started) / 1000;
    expect(outcome).toMatchObject({
      state: "failed",
      reason: "timed out after 1 s; the command was killed",
    });
    expect(seconds).toBeLessThan(5);
    const pid = await grandchild(dir);
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(pid)).toBe(false);
  });

  it("stops the whole process group on cancel", async () => {
    const dir = tempDir();
    const controller = new AbortController();
    setTimeout(() => controller.abort("SIGTERM"), 500);
    const started = Date.now();
    const outcome = await new HostExecutor().run(request(dir, { signal: controller.signal }));
    expect(outcome.state).toBe("cancelled");
    expect((Date.now() - started) / 1000).toBeLessThan(5);
    const pid = await grandchild(dir);
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(pid)).toBe(false);
  });

  it("escalates to SIGKILL for a group that ignores SIGTERM", async () => {
    const dir = tempDir();
    const started = Date.now();
    const outcome = await new HostExecutor().run(
      request(dir, {
        command: ["sh", "-c", `trap '' TERM; sleep 12 & echo $! > ${join(dir, "pid")}; wait`],
        timeoutSeconds: 1,
      }),
    );
    expect(outcome.state).toBe("failed");
    expect((Date.now() - started) / 1000).toBeLessThan(12);
  }, 20_000);
});
