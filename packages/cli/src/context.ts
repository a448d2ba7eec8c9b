// The only place the CLI reads its environment: everything core needs is passed in from here.
import type { DockerEndpoint } from "@track-run/core/docker";
import { type RunnerContext, runnerFromEnvironment } from "@track-run/core/pin";

export interface CliEnvironment {
  docker: DockerEndpoint;
  registry?: string;
  signingKey?: string;
  signingKeyInEnv: boolean;
  ledger: string;
  isTerminal: boolean;
  runner: RunnerContext;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  const e: CliEnvironment = {
    docker: env.DOCKER_HOST ? { host: env.DOCKER_HOST } : {},
    signingKeyInEnv: Boolean(env.TRACK_RUN_SIGNING_KEY),
    ledger: env.TRACK_RUN_LEDGER ?? "dir:.track-run/ledger",
    isTerminal: Boolean(process.stderr.isTTY) && env.CI !== "true",
    runner: runnerFromEnvironment(env),
  };
  if (env.TRACK_RUN_REGISTRY) e.registry = env.TRACK_RUN_REGISTRY;
  if (env.TRACK_RUN_KEY) e.signingKey = env.TRACK_RUN_KEY;
  return e;
}
