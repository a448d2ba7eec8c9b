import type Docker from "dockerode";
import { UsageError } from "../errors.js";

/** Where the Docker engine (or Podman's Docker-compatible socket) listens. */
export interface DockerEndpoint {
  /** As given: DOCKER_HOST's value, or undefined for the default socket. */
  host?: string;
}

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

/** Human form of the endpoint, for messages. */
export function describeEndpoint(ep: DockerEndpoint): string {
  return ep.host ?? `unix://${DEFAULT_DOCKER_SOCKET}`;
}

/** dockerode options for an endpoint: unix://PATH, tcp://HOST:PORT, http(s)://HOST:PORT. */
export function dockerOptions(ep: DockerEndpoint): Docker.DockerOptions {
  const host = ep.host?.trim();
  if (!host) return { socketPath: DEFAULT_DOCKER_SOCKET };
  if (host.startsWith("unix://")) return { socketPath: host.slice("unix://".length) };
  const m = /^(tcp|http|https):\/\/([^:/]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
  if (m) {
    const protocol = m[1] === "https" ? "https" : "http";
    return { protocol, host: m[2]!, port: Number(m[3] ?? (protocol === "https" ? 2376 : 2375)) };
  }
  throw new UsageError(
    "docker-host-invalid",
    `DOCKER_HOST "${host}" is not a supported address; use unix:///path/to/docker.sock or tcp://host:port`,
  );
}

/** A dockerode client for the endpoint; dockerode is loaded on first use, keeping start-up fast. */
export async function connectDocker(ep: DockerEndpoint): Promise<Docker> {
  const { default: DockerClient } = await import("dockerode");
  return new DockerClient(dockerOptions(ep));
}
