// The environment pin: the image a run uses (by repository digest where there is one), how it was
// built, the host and its GPUs, the runner, and the lockfiles of the repository.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { Ignore } from "@balena/dockerignore";
import * as tarStream from "tar-stream";
import type { EnvironmentPin, HostFacts } from "../__generated__/index.js";
import type { ContainerRuntime } from "../docker/runtime.js";
import { CheckFailedError, fsInputError, UsageError } from "../errors.js";
import { execProgram, NOT_FOUND } from "../util/exec.js";
import { loadCommonJs } from "../util/interop.js";
import { probeGpus } from "./gpu.js";

export type ImagePin = NonNullable<EnvironmentPin["image"]>;

/** Splits an image reference into repository, tag and digest (a registry port is not a tag). */
export function parseImageRef(ref: string): { repository: string; tag?: string; digest?: string } {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { repository: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** Docker Hub's short names: "python" is "docker.io/library/python". */
function canonicalRepository(repo: string): string {
  const first = repo.split("/")[0]!;
  const hasRegistry =
    repo.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  if (hasRegistry) return repo;
  return `docker.io/${repo.includes("/") ? repo : `library/${repo}`}`;
}

/**
 * Resolves an image reference to what a manifest must hold: its repository digest when it has one
 * (pullable by digest), else its local image ID. Pulls when the image is not present.
 */
export async function resolveImage(
  rt: ContainerRuntime,
  ref: string,
  options: { strict?: boolean; onLog?: (line: string) => void } = {},
): Promise<ImagePin> {
  const parsed = parseImageRef(ref);
  let facts = await rt.inspectImage(ref);
  if (!facts) {
    await rt.pullImage(ref, options.onLog);
    facts = await rt.inspectImage(ref);
    if (!facts) throw new UsageError("image-missing", `image "${ref}" was pulled but cannot be found`);
  }
  const want = canonicalRepository(parsed.repository);
  const repoDigest =
    (parsed.digest ? `${parsed.repository}@${parsed.digest}` : undefined) ??
    facts.repoDigests.find((d) => canonicalRepository(parseImageRef(d).repository) === want);
  const pin: ImagePin = { reference: ref, id: facts.id, pullable: Boolean(repoDigest) };
  if (repoDigest) {
    pin.repoDigest = repoDigest;
    pin.digest = parseImageRef(repoDigest).digest!;
  } else if (options.strict) {
    throw new CheckFailedError(
      "image-unpinned",
      `image "${ref}" has no repository digest (built locally, never pushed), so the mutable tag cannot be pinned (--strict); push it, or use name@sha256:…`,
    );
  }
  return pin;
}

export interface BuildOptions {
  dockerfile: string;
  /** Build context folder; default the Dockerfile's folder. */
  context?: string;
  buildArgs?: Record<string, string>;
  /** Tag for the built image; default track-run/build:<Dockerfile digest prefix>. */
  tag?: string;
  /** Push to REGISTRY/REPO[:TAG] and record the repository digest. */
  push?: string;
  /** Repository root: the Dockerfile and context are recorded relative to it, so a reproduction can rebuild. */
  repo?: string;
  onLog?: (line: string) => void;
}

/** The images a Dockerfile's FROM lines name (stage names and scratch left out), global ARGs and build args substituted. */
export function fromImages(dockerfile: string, buildArgs: Record<string, string> = {}): string[] {
  const args: Record<string, string> = {};
  const stages = new Set<string>();
  const images: string[] = [];
  const lines = dockerfile.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  let seenFrom = false;
  for (const raw of lines) {
    const line = raw.trim();
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/i.exec(line);
    if (arg && !seenFrom) {
      args[arg[1]!] = buildArgs[arg[1]!] ?? (arg[2] ?? "").replace(/^["']|["']$/g, "");
      continue;
    }
    const from = /^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!from) continue;
    seenFrom = true;
    const image = from[1]!.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n: string) => args[n] ?? "");
    if (image !== "scratch" && !stages.has(image.toLowerCase())) images.push(image);
    if (from[2]) stages.add(from[2].toLowerCase());
  }
  return [...new Set(images)];
}

/** The build context as a tar stream: .dockerignore honoured, the Dockerfile always included. */
async function contextTar(
  context: string,
  dockerfileInContext: string,
  extraDockerfile?: Buffer,
): Promise<NodeJS.ReadableStream> {
  // A CommonJS module whose module.exports is the factory: at run time it is the import's default.
  const ignore = (await loadCommonJs(() => import("@balena/dockerignore"))) as unknown as () => Ignore;
  const ig = ignore();
  const ignoreFile = join(context, ".dockerignore");
  const patterns = fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, "utf8").split(/\r?\n/) : [];
  ig.add(patterns.filter((p) => p.trim() && !p.trim().startsWith("#")));
  const negations = patterns.some((p) => p.trim().startsWith("!"));
  const pack = tarStream.pack();
  const entries: Array<{ rel: string; abs: string; st: fs.Stats }> = [];
  const walk = (absDir: string) => {
    for (const d of fs
      .readdirSync(absDir, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const abs = join(absDir, d.name);
      const rel = relative(context, abs).split(sep).join("/");
      const always = rel === ".dockerignore" || rel === dockerfileInContext;
      if (d.isDirectory()) {
        // Without "!" exceptions an ignored folder cannot hold anything kept: skip it whole.
        if (!negations && ig.ignores(`${rel}/`)) continue;
        walk(abs);
      } else if (always || !ig.ignores(rel)) {
        entries.push({ rel, abs, st: fs.lstatSync(abs) });
      }
    }
  };
  walk(context);
  (async () => {
    try {
      for (const e of entries) {
        if (e.st.isSymbolicLink()) {
          pack.entry({ name: e.rel, type: "symlink", linkname: fs.readlinkSync(e.abs), mode: 0o777 });
        } else if (e.st.isFile()) {
          await new Promise<void>((res, rej) => {
            const entry = pack.entry(
              { name: e.rel, size: e.st.size, mode: e.st.mode & 0o777, mtime: e.st.mtime },
              (err) => (err ? rej(err) : res()),
            );
            fs.createReadStream(e.abs).pipe(entry);
          });
        }
      }
      if (extraDockerfile) pack.entry({ name: dockerfileInContext, mode: 0o644 }, extraDockerfile);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack as unknown as NodeJS.ReadableStream;
}

/** Builds from a Dockerfile, records image ID, Dockerfile digest, build args and base-image digests; pushes on request. */
export async function buildAndPin(rt: ContainerRuntime, o: BuildOptions): Promise<ImagePin> {
  const dockerfilePath = resolve(o.dockerfile);
  let dockerfile: Buffer;
  try {
    dockerfile = fs.readFileSync(dockerfilePath);
  } catch (e) {
    throw fsInputError(`--dockerfile "${o.dockerfile}"`, e);
  }
  const context = resolve(o.context ?? dirname(dockerfilePath));
  if (!fs.existsSync(context) || !fs.statSync(context).isDirectory()) {
    throw new UsageError("bad-context", `--context "${o.context ?? dirname(o.dockerfile)}" is not a folder`);
  }
  const inside = dockerfilePath.startsWith(context + sep);
  const inContext = inside ? relative(context, dockerfilePath).split(sep).join("/") : ".track-run.Dockerfile";
  const dockerfileDigest = createHash("sha256").update(dockerfile).digest("hex");
  const tag = o.tag ?? `track-run/build:${dockerfileDigest.slice(0, 12)}`;
  const buildArgs = o.buildArgs ?? {};
  const id = await rt.buildImage({
    context: await contextTar(context, inContext, inside ? undefined : dockerfile),
    dockerfile: inContext,
    tag,
    buildArgs,
    ...(o.onLog ? { onLog: o.onLog } : {}),
  });
  const baseImages: string[] = [];
  for (const image of fromImages(dockerfile.toString("utf8"), buildArgs)) {
    const facts = await rt.inspectImage(image);
    const want = canonicalRepository(parseImageRef(image).repository);
    const rd = facts?.repoDigests.find((d) => canonicalRepository(parseImageRef(d).repository) === want);
    baseImages.push(rd ?? (facts ? `${image} (local image ${facts.id})` : image));
  }
  const pin: ImagePin = { reference: tag, id, dockerfileDigest, buildArgs, baseImages, pullable: false };
  if (o.repo) {
    pin.dockerfile = relative(o.repo, dockerfilePath).split(sep).join("/");
    pin.context = relative(o.repo, context).split(sep).join("/") || ".";
  }
  if (o.push) {
    const target = parseImageRef(o.push);
    if (target.digest)
      throw new UsageError("bad-push-target", `--push "${o.push}" must be REGISTRY/REPO[:TAG], not a digest`);
    const pushTag = target.tag ?? `sha-${id.replace(/^sha256:/, "").slice(0, 12)}`;
    await rt.tagImage(id, target.repository, pushTag);
    const digest = await rt.pushImage(target.repository, pushTag, o.onLog);
    pin.reference = `${target.repository}:${pushTag}`;
    pin.digest = digest;
    pin.repoDigest = `${target.repository}@${digest}`;
    pin.pullable = true;
  }
  return pin;
}

const LOCKFILE =
  /^(requirements.*\.txt|uv\.lock|poetry\.lock|Pipfile\.lock|environment\.ya?ml|conda-lock\.ya?ml|package-lock\.json)$/;
const SKIP_DIRS = new Set([
  ".git",
  "node_modules",
  ".venv",
  "venv",
  "__pycache__",
  "dist",
  "build",
  ".track-run",
]);

/** Lockfiles within three folders of `root`, with their sha256. */
export function findLockfiles(root: string, depth = 3): Array<{ path: string; sha256: string }> {
  const out: Array<{ path: string; sha256: string }> = [];
  const visit = (dir: string, level: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of entries) {
      const abs = join(dir, d.name);
      if (d.isDirectory() && level < depth && !SKIP_DIRS.has(d.name)) visit(abs, level + 1);
      else if (d.isFile() && LOCKFILE.test(d.name)) {
        out.push({
          path: relative(root, abs).split(sep).join("/"),
          sha256: createHash("sha256").update(fs.readFileSync(abs)).digest("hex"),
        });
      }
    }
  };
  visit(root, 0);
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(fs.readFileSync("/etc/os-release", "utf8"));
    if (m) return m[1]!;
  } catch {
    // not Linux, or no os-release
  }
  return `${os.type()} ${os.release()}`;
}

export async function hostFacts(rt?: ContainerRuntime): Promise<HostFacts> {
  const cpus = os.cpus();
  const facts: HostFacts = {
    os: osName(),
    kernel: os.release(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpuCount: os.availableParallelism(),
    memoryBytes: os.totalmem(),
  };
  if (rt) {
    const e = await rt.engine();
    facts.dockerVersion = e.version;
    facts.dockerRuntimes = e.runtimes;
  }
  return facts;
}

/** Interpreters on PATH, for the host runtime (no image to pin). */
export async function interpreters(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const probes: Array<[string, string[]]> = [
    ["python3", ["--version"]],
    ["python", ["--version"]],
    ["node", ["--version"]],
    ["R", ["--version"]],
    ["julia", ["--version"]],
  ];
  await Promise.all(
    probes.map(async ([prog, args]) => {
      const r = await execProgram(prog, args, { timeoutMs: 10_000 });
      if (r !== NOT_FOUND && r.code === 0) out[prog] = (r.stdout || r.stderr).trim().split("\n")[0]!;
    }),
  );
  return Object.fromEntries(Object.entries(out).sort());
}

export interface RunnerContext {
  name?: string;
  os?: string;
  arch?: string;
  labels?: string[];
  environment?: "github-hosted" | "self-hosted" | "local";
}

/** The runner, from the environment the caller passes (GitHub's RUNNER_* variables; labels from TRACK_RUN_RUNNER_LABELS). */
export function runnerFromEnvironment(env: Readonly<Record<string, string | undefined>>): RunnerContext {
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

export interface EnvPinOptions {
  runtime: "docker" | "host";
  /** Needed for the docker runtime. */
  containers?: ContainerRuntime;
  image?: string;
  build?: BuildOptions;
  strict?: boolean;
  /** Repository root, searched for lockfiles. */
  repo?: string;
  runner?: RunnerContext;
  onLog?: (line: string) => void;
}

export async function pinEnvironment(o: EnvPinOptions): Promise<EnvironmentPin> {
  if (o.image && o.build) throw new UsageError("usage", "give --image or --dockerfile, not both");
  const rt = o.runtime === "docker" ? o.containers : undefined;
  if (o.runtime === "docker" && !rt)
    throw new UsageError("usage", "the docker runtime needs a container engine");
  if (o.runtime === "host" && (o.image || o.build))
    throw new UsageError("usage", "--image and --dockerfile need the docker runtime");
  const [image, host, gpus] = await Promise.all([
    rt && o.image
      ? resolveImage(rt, o.image, {
          ...(o.strict ? { strict: true } : {}),
          ...(o.onLog ? { onLog: o.onLog } : {}),
        })
      : undefined,
    hostFacts(rt),
    probeGpus(),
  ]);
  const built =
    rt && o.build
      ? await buildAndPin(rt, {
          ...o.build,
          ...(o.repo ? { repo: o.repo } : {}),
          ...(o.onLog ? { onLog: o.onLog } : {}),
        })
      : undefined;
  const pin: EnvironmentPin = { runtime: o.runtime, host, gpus: gpus.state === "present" ? gpus.gpus : [] };
  const img = image ?? built;
  if (img) pin.image = img;
  if (o.runner && Object.keys(o.runner).length) pin.runner = o.runner;
  if (o.repo) pin.lockfiles = findLockfiles(o.repo);
  if (o.runtime === "host") pin.interpreters = await interpreters();
  return pin;
}
