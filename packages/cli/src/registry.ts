// How the commands reach OCI registries: credentials from TRACK_RUN_REGISTRY_USER and
// TRACK_RUN_REGISTRY_PASSWORD, else the docker config's auths ($DOCKER_CONFIG or ~/.docker), and
// retries told as info lines (never a credential).
import { homedir } from "node:os";
import type { RegistryAccess } from "@track-run/core/oci";
import type { Output } from "./output.js";

export async function registryAccess(out?: Output): Promise<RegistryAccess> {
  const { credentialsFor } = await import("@track-run/core/oci");
  return {
    credentials: (registry) => credentialsFor(registry, { env: process.env, home: homedir() }),
    ...(out ? { onRetry: (m: string) => out.info(`track-run: ${m}`) } : {}),
  };
}
