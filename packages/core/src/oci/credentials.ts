// Registry credentials: TRACK_RUN_REGISTRY_USER / TRACK_RUN_REGISTRY_PASSWORD from the caller's
// environment (given in, never read from process.env here), else the registry's entry of a docker
// config file (`auths`: base64 user:password in `auth`, or username/password). Credential helpers
// (`credsStore`, `credHelpers`) are not run. Values never appear in a message.
import * as fs from "node:fs";
import { join } from "node:path";

export interface RegistryCredentials {
  username: string;
  password: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
}

/** The docker config's key forms for one registry host. */
function keysFor(registry: string): string[] {
  const keys = [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
  if (registry === "docker.io" || registry === "registry-1.docker.io")
    keys.push("https://index.docker.io/v1/", "index.docker.io");
  return keys;
}

export function credentialsFor(
  registry: string,
  o: { env?: Readonly<Record<string, string | undefined>>; dockerConfig?: string; home?: string },
): RegistryCredentials | undefined {
  const user = o.env?.TRACK_RUN_REGISTRY_USER;
  const password = o.env?.TRACK_RUN_REGISTRY_PASSWORD;
  if (user && password) return { username: user, password };
  const path =
    o.dockerConfig ??
    (o.env?.DOCKER_CONFIG ? join(o.env.DOCKER_CONFIG, "config.json") : undefined) ??
    (o.home ? join(o.home, ".docker", "config.json") : undefined);
  if (!path) return undefined;
  let doc: DockerConfig;
  try {
    doc = JSON.parse(fs.readFileSync(path, "utf8")) as DockerConfig;
  } catch {
    return undefined;
  }
  for (const key of keysFor(registry)) {
    const entry = doc.auths?.[key];
    if (!entry) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const text = Buffer.from(entry.auth, "base64").toString("utf8");
      const i = text.indexOf(":");
      if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
    }
  }
  return undefined;
}
