import { access, constants, stat } from "node:fs/promises";
import { connectDocker, type DockerEndpoint, describeEndpoint } from "../docker/connection.js";
import { probeGpus } from "../pin/gpu.js";
import { execProgram, NOT_FOUND } from "../util/exec.js";

export type CheckState = "ok" | "missing" | "warning";

export interface DoctorCheck {
  name: string;
  state: CheckState;
  /** What was found (a version, a path, a count). */
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
  /** Whether track-run cannot work at all without it. */
  required: boolean;
  data?: Record<string, unknown>;
}

export interface DoctorOptions {
  nodeVersion: string;
  docker: DockerEndpoint;
  /** Registry to check, as host:port or URL; undefined when none is configured. */
  registry?: string;
  /** Private key file configured for signing, if any. */
  signingKey?: string;
  /** Whether a key is provided through the environment (TRACK_RUN_SIGNING_KEY). */
  signingKeyInEnv: boolean;
  ledger: string;
  minNodeMajor?: number;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

async function checkNode(o: DoctorOptions): Promise<DoctorCheck> {
  const min = o.minNodeMajor ?? 24;
  const major = Number(o.nodeVersion.replace(/^v/, "").split(".")[0]);
  return major >= min
    ? { name: "node", state: "ok", detail: o.nodeVersion, required: true }
    : {
        name: "node",
        state: "missing",
        detail: `${o.nodeVersion} (need ${min} or later)`,
        fix: "run through `npx track-run` in the project (it uses the pinned Node 24), or install Node 24",
        required: true,
      };
}

async function checkGit(): Promise<DoctorCheck> {
  const r = await execProgram("git", ["--version"]);
  if (r === NOT_FOUND || r.code !== 0) {
    return {
      name: "git",
      state: "missing",
      detail: "git not found",
      fix: "install git (apt-get install git)",
      required: true,
    };
  }
  return { name: "git", state: "ok", detail: r.stdout.trim().replace(/^git version /, ""), required: true };
}

async function checkDocker(o: DoctorOptions): Promise<DoctorCheck> {
  const where = describeEndpoint(o.docker);
  try {
    const docker = await connectDocker(o.docker);
    const [version, info] = await Promise.all([
      docker.version(),
      docker.info() as Promise<Record<string, unknown>>,
    ]);
    const runtimes = Object.keys((info.Runtimes as Record<string, unknown> | undefined) ?? {}).sort();
    const nvidia = runtimes.includes("nvidia");
    return {
      name: "docker",
      state: "ok",
      detail: `engine ${version.Version} at ${where}; runtimes: ${runtimes.join(", ") || "none"}${nvidia ? "" : " (no nvidia runtime: GPU runs need the NVIDIA Container Toolkit)"}`,
      required: false,
      data: {
        version: version.Version,
        apiVersion: version.ApiVersion,
        runtimes,
        nvidiaRuntime: nvidia,
        endpoint: where,
      },
    };
  } catch (e) {
    return {
      name: "docker",
      state: "missing",
      detail: `no Docker engine answered at ${where}: ${e instanceof Error ? e.message : String(e)}`,
      fix: "start the engine (dockerd, or `systemctl start docker`) or set DOCKER_HOST; without it runs use --runtime host",
      required: false,
    };
  }
}

async function checkRegistry(o: DoctorOptions): Promise<DoctorCheck | undefined> {
  if (!o.registry) return undefined;
  const base = /^https?:\/\//.test(o.registry) ? o.registry : `http://${o.registry}`;
  try {
    const res = await fetch(new URL("/v2/", base), { signal: AbortSignal.timeout(5000) });
    if (res.status === 200 || res.status === 401) {
      return {
        name: "registry",
        state: "ok",
        detail: `${o.registry} answers the registry API v2 (HTTP ${res.status})`,
        required: false,
      };
    }
    return {
      name: "registry",
      state: "missing",
      detail: `${o.registry} answered HTTP ${res.status} on /v2/, not a registry`,
      fix: "check TRACK_RUN_REGISTRY",
      required: false,
    };
  } catch (e) {
    return {
      name: "registry",
      state: "missing",
      detail: `${o.registry} did not answer: ${e instanceof Error ? e.message : String(e)}`,
      fix: "start the registry or correct TRACK_RUN_REGISTRY",
      required: false,
    };
  }
}

async function checkGpus(): Promise<DoctorCheck> {
  const probe = await probeGpus();
  switch (probe.state) {
    case "absent":
      return {
        name: "gpus",
        state: "missing",
        detail: `no NVIDIA GPU (${probe.reason})`,
        fix: "GPU runs need the NVIDIA driver and nvidia-smi; CPU runs work without",
        required: false,
        data: { gpus: [] },
      };
    case "error":
      return {
        name: "gpus",
        state: "warning",
        detail: probe.reason,
        fix: "check the NVIDIA driver",
        required: false,
      };
    case "present":
      return {
        name: "gpus",
        state: "ok",
        detail: probe.gpus.map((g) => `${g.name} (${g.uuid}, driver ${g.driverVersion ?? "?"})`).join("; "),
        required: false,
        data: { gpus: probe.gpus },
      };
    default: {
      const never: never = probe;
      return never;
    }
  }
}

async function checkKey(o: DoctorOptions): Promise<DoctorCheck> {
  if (o.signingKeyInEnv)
    return { name: "signing-key", state: "ok", detail: "from TRACK_RUN_SIGNING_KEY", required: false };
  if (o.signingKey) {
    try {
      await access(o.signingKey, constants.R_OK);
      return { name: "signing-key", state: "ok", detail: o.signingKey, required: false };
    } catch {
      return {
        name: "signing-key",
        state: "missing",
        detail: `${o.signingKey} cannot be read`,
        fix: `create it with \`track-run keygen --out ${o.signingKey.replace(/\.key$/, "")}\``,
        required: false,
      };
    }
  }
  return {
    name: "signing-key",
    state: "missing",
    detail: "no signing key configured",
    fix: "run `track-run keygen --out .track-run/keys/signing`, or sign keyless in GitHub Actions (id-token: write)",
    required: false,
  };
}

async function checkLedger(o: DoctorOptions): Promise<DoctorCheck> {
  if (!o.ledger.startsWith("dir:")) return { name: "ledger", state: "ok", detail: o.ledger, required: false };
  const path = o.ledger.slice("dir:".length);
  try {
    const s = await stat(path);
    if (!s.isDirectory()) {
      return {
        name: "ledger",
        state: "warning",
        detail: `${path} is not a folder`,
        fix: "point --ledger at a folder",
        required: false,
      };
    }
    await access(path, constants.W_OK);
    return { name: "ledger", state: "ok", detail: `${o.ledger} (exists, writable)`, required: false };
  } catch {
    return { name: "ledger", state: "ok", detail: `${o.ledger} (created on the first run)`, required: false };
  }
}

/** Runs every check; `ok` is true when the required ones (Node, git) pass. */
export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const checks = (
    await Promise.all([
      checkNode(o),
      checkGit(),
      checkDocker(o),
      checkRegistry(o),
      checkGpus(),
      checkKey(o),
      checkLedger(o),
    ])
  ).filter((c): c is DoctorCheck => c !== undefined);
  return { ok: checks.every((c) => !c.required || c.state === "ok"), checks };
}
