import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";

/** Whether a Docker engine answers here. In CI it must: engine tests then fail rather than skip. */
export const dockerUp =
  spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).status === 0;
export const registryUp = await fetch("http://127.0.0.1:5000/v2/").then(
  (r) => r.ok,
  () => false,
);

export function requireEngine(): void {
  it.runIf(process.env.CI === "true" && (!dockerUp || !registryUp))(
    "has the Docker engine and the registry .ci/run starts",
    () => {
      expect({ dockerUp, registryUp }).toEqual({ dockerUp: true, registryUp: true });
    },
  );
}

export function docker(...args: string[]): string {
  const r = spawnSync("docker", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

export const BUSYBOX = "track-run/busybox:1";
export const PYTHON = "track-run/python:3-bookworm";
