// ContainerRuntime: the one door to the container engine (Docker, or Podman's Docker-compatible
// socket), built once from a DockerEndpoint. Everything that talks to the engine goes through it.
import type Docker from "dockerode";
import { CheckFailedError, UsageError } from "../errors.js";
import { connectDocker, type DockerEndpoint, describeEndpoint } from "./connection.js";

export interface ImageFacts {
  id: string;
  repoDigests: string[];
  repoTags: string[];
}

export interface EngineFacts {
  version: string;
  apiVersion: string;
  runtimes: string[];
  os: string;
  kernel: string;
}

export interface BuildRequest {
  /** A tar stream of the build context. */
  context: NodeJS.ReadableStream;
  /** Dockerfile path inside the context. */
  dockerfile: string;
  tag: string;
  buildArgs?: Record<string, string>;
  onLog?: (line: string) => void;
}

export interface ContainerRuntime {
  readonly endpoint: string;
  engine(): Promise<EngineFacts>;
  /** undefined when the image is not present. */
  inspectImage(ref: string): Promise<ImageFacts | undefined>;
  pullImage(ref: string, onLog?: (line: string) => void): Promise<void>;
  buildImage(req: BuildRequest): Promise<string>;
  tagImage(id: string, repo: string, tag: string): Promise<void>;
  /** Pushes repo:tag; returns the registry's manifest digest. */
  pushImage(repo: string, tag: string, onLog?: (line: string) => void): Promise<string>;
  removeImage(ref: string): Promise<void>;
  /** The dockerode client, for the run stage's container work. */
  readonly client: Docker;
}

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string };
}

function follow(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onEvent: (e: ProgressEvent) => void,
): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, out: ProgressEvent[]) => (err ? reject(err) : resolve(out)),
      onEvent,
    );
  });
}

function statusCode(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "statusCode" in e
    ? Number((e as { statusCode: unknown }).statusCode)
    : undefined;
}

/** Connects and checks the engine answers; an unreachable engine is a usage error naming the endpoint. */
export async function openDockerRuntime(ep: DockerEndpoint): Promise<ContainerRuntime> {
  const docker = await connectDocker(ep);
  const where = describeEndpoint(ep);
  try {
    await docker.ping();
  } catch (e) {
    throw new UsageError(
      "docker-unreachable",
      `no Docker engine answered at ${where} (${(e as Error).message}); start dockerd or set DOCKER_HOST, or use --runtime host`,
      { cause: e },
    );
  }
  return {
    endpoint: where,
    client: docker,
    async engine() {
      const [v, info] = await Promise.all([
        docker.version(),
        docker.info() as Promise<Record<string, unknown>>,
      ]);
      return {
        version: v.Version,
        apiVersion: v.ApiVersion,
        runtimes: Object.keys((info.Runtimes as Record<string, unknown> | undefined) ?? {}).sort(),
        os: String(info.OperatingSystem ?? v.Os),
        kernel: String(info.KernelVersion ?? v.KernelVersion),
      };
    },
    async inspectImage(ref) {
      try {
        const i = await docker.getImage(ref).inspect();
        return { id: i.Id, repoDigests: i.RepoDigests ?? [], repoTags: i.RepoTags ?? [] };
      } catch (e) {
        if (statusCode(e) === 404) return undefined;
        throw e;
      }
    },
    async pullImage(ref, onLog) {
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.pull(ref);
      } catch (e) {
        throw new UsageError(
          "image-pull-failed",
          `image "${ref}" is not present and cannot be pulled: ${(e as Error).message}`,
          { cause: e },
        );
      }
      const events = await follow(docker, stream, (e) => e.status && onLog?.(e.status));
      const failed = events.find((e) => e.error);
      if (failed)
        throw new UsageError("image-pull-failed", `image "${ref}" cannot be pulled: ${failed.error}`);
    },
    async buildImage(req) {
      const stream = await docker.buildImage(req.context, {
        t: req.tag,
        dockerfile: req.dockerfile,
        buildargs: req.buildArgs ?? {},
        rm: true,
        forcerm: true,
      });
      const log: string[] = [];
      let id: string | undefined;
      let error: string | undefined;
      await follow(docker, stream, (e) => {
        if (e.stream) {
          for (const line of e.stream.split("\n")) {
            if (!line.trim()) continue;
            log.push(line);
            req.onLog?.(line);
          }
        }
        if (e.aux?.ID) id = e.aux.ID;
        if (e.error) error = e.errorDetail?.message ?? e.error;
      });
      if (error || !id) {
        throw new CheckFailedError(
          "build-failed",
          `the image build failed: ${error ?? "no image was produced"}`,
          {
            details: log.slice(-15),
          },
        );
      }
      return id;
    },
    async tagImage(id, repo, tag) {
      await docker.getImage(id).tag({ repo, tag });
    },
    async pushImage(repo, tag, onLog) {
      const stream = (await docker.getImage(`${repo}:${tag}`).push({ tag })) as NodeJS.ReadableStream;
      let digest: string | undefined;
      let error: string | undefined;
      await follow(docker, stream, (e) => {
        if (e.status) onLog?.(e.status);
        if (e.aux?.Digest) digest = e.aux.Digest;
        if (e.error) error = e.errorDetail?.message ?? e.error;
      });
      if (error || !digest)
        throw new UsageError(
          "push-failed",
          `pushing ${repo}:${tag} failed: ${error ?? "the registry returned no digest"}`,
        );
      return digest;
    },
    async removeImage(ref) {
      await docker.getImage(ref).remove({ force: true });
    },
  };
}
