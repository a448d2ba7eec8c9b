// The only place the CLI reads its environment: everything core needs is passed in from here.
import type { DockerEndpoint } from "@track-run/core/docker";
import type { RunnerContext } from "@track-run/core/pin";

export interface CliEnvironment {
  docker: DockerEndpoint;
  registry?: string;
  signingKey?: string;
  signingKeyInEnv: boolean;
  ledger: string;
  isTerminal: boolean;
  runner: RunnerContext;
}

/** The runner this runs on: GitHub's RUNNER_* variables, labels from TRACK_RUN_RUNNER_LABELS; "local" elsewhere. */
function readRunner(env: NodeJS.ProcessEnv): RunnerContext {
  const r: RunnerContext = {};
  if (env.RUNNER_NAME) r.name = env.RUNNER_NAME;
  if (env.RUNNER_OS) r.os = env.RUNNER_OS;
  if (env.RUNNER_ARCH) r.arch = env.RUNNER_ARCH;
  const labels = (env.TRACK_RUN_RUNNER_LABELS ?? "")
    .split(",")
    .map((l) => l.trim())
    .filter(Boolean);
  if (labels.length) r.labels = labels;
  const e = env.RUNNER_ENVIRONMENT;
  r.environment =
    e === "github-hosted" || e === "self-hosted"
      ? e
      : env.GITHUB_ACTIONS === "true"
        ? "self-hosted"
        : "local";
  return r;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  const e: CliEnvironment = {
    docker: env.DOCKER_HOST ? { host: env.DOCKER_HOST } : {},
    signingKeyInEnv: Boolean(env.TRACK_RUN_SIGNING_KEY),
    ledger: env.TRACK_RUN_LEDGER ?? "dir:.track-run/ledger",
    isTerminal: Boolean(process.stderr.isTTY) && env.CI !== "true",
    runner: readRunner(env),
  };
  if (env.TRACK_RUN_REGISTRY) e.registry = env.TRACK_RUN_REGISTRY;
  if (env.TRACK_RUN_KEY) e.signingKey = env.TRACK_RUN_KEY;
  return e;
}
