import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
export function cli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    input: options.input,
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("track-run command line", () => {
  it("prints help listing the commands and the exit codes", () => {
    const r = cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: track-run/);
    expect(r.stdout).toMatch(/doctor/);
    expect(r.stdout).toMatch(/2 bad usage/);
  });

  it("prints its version", () => {
    const r = cli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("exits 2 with one line on an unknown command", () => {
    const r = cli(["nosuchcmd"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")[0]).toBe("error: unknown command 'nosuchcmd'");
  });

  it("exits 2 on an unknown option", () => {
    const r = cli(["doctor", "--frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it("doctor --json reports every check with state and fix, exit 0 when Node and git are there", () => {
    const r = cli(["doctor", "--json"], { env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" } });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { name: string; state: string; fix?: string }[];
    };
    expect(report.ok).toBe(true);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.node!.state).toBe("ok");
    expect(byName.git!.state).toBe("ok");
    expect(byName.docker!.state).toBe("missing");
    expect(byName.docker!.fix).toMatch(/DOCKER_HOST/);
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(["gpus", "signing-key", "ledger"]));
  });

  it("doctor fails (exit 1) when git is missing", () => {
    const r = cli(["doctor", "--json"], { env: { PATH: "/nonexistent" } });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; state: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === "git")!.state).toBe("missing");
  });
});
