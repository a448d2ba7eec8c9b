// Where outputs go in a registry: `oci://REGISTRY/REPO` (the repository), optionally with
// `:TAG` or `@sha256:…`. A loopback registry (127.0.0.1, localhost, [::1]) is spoken to over plain
// HTTP, as docker and ORAS do for local registries; every other one over HTTPS.
import { UsageError } from "../errors.js";

export interface OciReference {
  /** host[:port], as written. */
  registry: string;
  /** The repository path (lower case components separated by /). */
  repository: string;
  tag?: string;
  /** "sha256:…" */
  digest?: string;
  /** The registry's base URL: http for loopback, https otherwise. */
  baseUrl: string;
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$/;

export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, "");
  return host === "localhost" || host === "[::1]" || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

/**
 * Parses `oci://REGISTRY/REPO[:TAG|@DIGEST]`; `what` names the input in the message (exit 2).
 * Credentials in the address are refused: they would end up in records and logs.
 */
export function parseOciReference(value: string, what: string): OciReference {
  const fix = "the form is oci://REGISTRY/REPOSITORY, e.g. oci://ghcr.io/org/models";
  if (!value.startsWith("oci://")) throw new UsageError("usage", `${what} must start with oci://; ${fix}`);
  let rest = value.slice("oci://".length);
  const slash = rest.indexOf("/");
  if (slash <= 0) throw new UsageError("usage", `${what} names no repository; ${fix}`);
  const registry = rest.slice(0, slash);
  if (registry.includes("@"))
    throw new UsageError(
      "usage",
      `${what} must not carry credentials; give them as TRACK_RUN_REGISTRY_USER and TRACK_RUN_REGISTRY_PASSWORD, or in ~/.docker/config.json`,
    );
  if (!HOST.test(registry))
    throw new UsageError("usage", `${what}: "${registry}" is not a registry host; ${fix}`);
  rest = rest.slice(slash + 1);
  let digest: string | undefined;
  let tag: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_PATTERN.test(digest))
      throw new UsageError("usage", `${what}: "${digest}" is not a digest (sha256: and 64 hex digits)`);
  }
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_PATTERN.test(tag)) throw new UsageError("usage", `${what}: "${tag}" is not a tag`);
  }
  if (!REPOSITORY.test(rest))
    throw new UsageError(
      "usage",
      `${what}: "${rest}" is not a repository name (lower case letters, digits, and . _ - / between them)`,
    );
  return {
    registry,
    repository: rest,
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
    baseUrl: `${isLoopback(registry) ? "http" : "https"}://${registry}`,
  };
}

/** `oci://REGISTRY/REPO` with the tag or digest given. */
export function formatOciReference(r: Pick<OciReference, "registry" | "repository">, at?: string): string {
  const base = `oci://${r.registry}/${r.repository}`;
  if (!at) return base;
  return at.startsWith("sha256:") ? `${base}@${at}` : `${base}:${at}`;
}
