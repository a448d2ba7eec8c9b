// Track a training run: pin first (code, every bag, the image), failing early with clear errors;
// run the command in the pinned image (or on the host); capture logs, metrics and outputs; write
// the manifest; sign it; record it in the ledger. A failed, timed-out, killed or cancelled run is
// recorded too, with its status.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { DataPin, MetricValue, RunManifest, RunStatus } from "../__generated__/index.js";
import { hashFiles } from "../bag/hash.js";
import { type Materialized, materializeBag } from "../bag/materialize.js";
import { safePath } from "../bag/paths.js";
import { type DataPinResult, pinData } from "../bag/pin.js";
import { walkTree } from "../bag/walk.js";
import type { ContainerRuntime } from "../docker/runtime.js";
import { fsInputError, TrackRunError, UsageError } from "../errors.js";
import type { GitLedgerOptions } from "../ledger/git.js";
import { openLedger } from "../ledger/store.js";
import { canonicalDigest } from "../manifest/canonical.js";
import { pinCode } from "../pin/code.js";
import { type BuildOptions, pinEnvironment, type RunnerContext } from "../pin/env.js";
import { schemaProblems } from "../schema/validate.js";
import { type SignedRecord, SigningFailedError, type SigningPlan, signRecord } from "../sign/plan.js";
import { buildStatement } from "../sign/statement.js";
import { DockerExecutor } from "./docker-executor.js";
import { describeGpuRequest, type ExecOutcome, type Executor, parseGpuRequest } from "./executor.js";
import { HostExecutor } from "./host-executor.js";
import { collectMetrics, parseMetricLine } from "./metrics.js";

export interface TrackSpec {
  model: string;
  command: string[];
  /** The source folder (usually the repository root). */
  repo: string;
  runtime: "docker" | "host";
  image?: string;
  build?: BuildOptions;
  data: Array<{ name: string; path: string }>;
  /** Host folder for outputs; default a new folder under the work root. */
  outputs?: string;
  params?: string;
  /** Where the command writes its final metrics, relative to the outputs folder (then also an output); default a file of the run's own. */
  metricsFile?: string;
  gpus?: string;
  network?: "bridge" | "none";
  /** Names of environment variables passed through (their values come from TrackContext.env). */
  env?: string[];
  seed?: number;
  timeoutSeconds?: number;
  memoryBytes?: number;
  ledger: string;
  signing: SigningPlan;
  strictCode?: boolean;
  allowNoGit?: boolean;
  strictImage?: boolean;
  /** Links of the manifest (a reproduction names the run it reproduces). */
  links?: RunManifest["links"];
}

export interface TrackContext {
  /** The caller's environment, read only for the allow-listed names (and PATH/HOME on the host). */
  env: Readonly<Record<string, string | undefined>>;
  runner?: RunnerContext;
  actor?: string;
  workflowRun?: string;
  containers?: ContainerRuntime;
  cacheDir?: string;
  /** Where run folders are made; default .track-run/work under the repository. */
  workRoot?: string;
  /** uid:gid for the container user. */
  user?: string;
  signal?: AbortSignal;
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
  onStep?: (message: string) => void;
  now?: () => Date;
  /** For a git: ledger: its cache folder and push token. */
  ledgerOptions?: GitLedgerOptions;
}

export interface TrackResult {
  runId: string;
  status: RunStatus;
  manifest: RunManifest;
  /** "sha256:…" of the manifest's canonical JSON. */
  digest: string;
  signing: SignedRecord["method"] | "failed";
  /** How each bag was obtained: as given, from the content cache, or fetched into it (the action caches those). */
  dataSources: Array<{ name: string; source: Materialized["source"]; digest?: string; path: string }>;
  /** Folder of the run in the ledger, and its two main files. */
  recordDir: string;
  manifestPath: string;
  bundlePath: string;
  warnings: string[];
}

const SECRET_NAME = /(TOKEN|SECRET|PASSW(OR)?D|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY|SIGNING_KEY)/i;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const TAIL_BYTES = 64 * 1024;

export function newRunId(now: Date): string {
  const t = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${t}-${randomBytes(3).toString("hex")}`;
}

function readParams(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    throw fsInputError(`--params "${path}"`, e);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new UsageError("bad-params", `--params "${path}" is not JSON or YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc))
    throw new UsageError("bad-params", `--params "${path}" must hold an object of parameters`);
  return doc as Record<string, unknown>;
}

/** Checks what can be checked before anything runs; every problem at once. */
function preflight(spec: TrackSpec): void {
  const problems: string[] = [];
  if (!spec.command.length)
    problems.push("no command to run: give it after --, or as `command:` in track-run.yml");
  if (!NAME.test(spec.model)) problems.push(`model "${spec.model}" must be letters, digits, ".", "_" or "-"`);
  const names = new Set<string>();
  for (const d of spec.data) {
    if (!NAME.test(d.name))
      problems.push(`--data ${d.name}=…: the name must be letters, digits, ".", "_" or "-"`);
    if (names.has(d.name)) problems.push(`--data ${d.name} is given twice`);
    names.add(d.name);
    if (!fs.existsSync(d.path)) problems.push(`--data ${d.name}=${d.path}: "${d.path}" does not exist`);
  }
  if (spec.runtime === "docker" && !spec.image && !spec.build)
    problems.push("the docker runtime needs --image or --dockerfile (or use --runtime host)");
  if (spec.runtime === "host" && (spec.image || spec.build))
    problems.push("--image and --dockerfile need the docker runtime");
  if (parseGpuRequest(spec.gpus) === undefined)
    problems.push(
      `--gpus "${spec.gpus}" must be none, all, a count, or GPU indexes/UUIDs separated by commas`,
    );
  if (spec.runtime === "host" && spec.gpus && spec.gpus !== "none")
    problems.push("--gpus needs the docker runtime (on the host the command sees every GPU)");
  if (spec.metricsFile !== undefined && !safePath(spec.metricsFile).ok) {
    problems.push(`--metrics "${spec.metricsFile}" must be a relative path inside the outputs folder`);
  }
  if (spec.timeoutSeconds !== undefined && !(spec.timeoutSeconds > 0))
    problems.push("--timeout must be a positive number of seconds");
  if (spec.outputs && fs.existsSync(spec.outputs) && fs.readdirSync(spec.outputs).length > 0) {
    problems.push(
      `--outputs "${spec.outputs}" is not empty; give a new or empty folder, so that only this run's files are recorded`,
    );
  }
  if (problems.length) {
    throw new UsageError(
      "bad-run",
      problems.length === 1 ? problems[0]! : `the run cannot start (${problems.length} problems)`,
      {
        details: problems.length === 1 ? [] : problems,
      },
    );
  }
}

function payloadFolder(pin: DataPinResult, name: string): string {
  if (pin.source === "archive") {
    throw new UsageError(
      "data-archive",
      `--data ${name}: "${pin.path}" is an archive; extract the bag first (tar -xf), then give its folder`,
    );
  }
  return pin.source === "bag" ? join(pin.path, "data") : pin.path;
}

async function hashOutputs(dir: string): Promise<RunManifest["outputs"]> {
  const walked = walkTree(dir);
  const results = await hashFiles(
    walked.files.map((f) => ({ path: f.abs, size: f.size })),
    ["sha256"],
  );
  return walked.files.map((f, i) => {
    const r = results[i]!;
    if (!r.ok)
      throw new TrackRunError("output-unreadable", `output ${f.rel} cannot be read: ${r.message}`, {
        kind: "check",
      });
    return { path: f.rel, sha256: r.digests.sha256!, size: r.bytes };
  });
}

export async function trackRun(spec: TrackSpec, ctx: TrackContext): Promise<TrackResult> {
  const now = ctx.now ?? (() => new Date());
  const step = ctx.onStep ?? (() => undefined);
  const warnings: string[] = [];
  preflight(spec);
  const repo = resolve(spec.repo);
  const ledger = openLedger(spec.ledger, ctx.ledgerOptions);
  const params = spec.params ? readParams(spec.params) : undefined;
  const gpus = parseGpuRequest(spec.gpus)!;
  if (spec.runtime === "docker" && !ctx.containers)
    throw new UsageError("usage", "the docker runtime needs a container engine");

  // 1. Pins, before anything runs.
  step("pinning code, data and environment");
  const [code, dataPins, environment] = await Promise.all([
    pinCode(repo, {
      strict: Boolean(spec.strictCode),
      allowNoGit: Boolean(spec.allowNoGit),
      ...(ctx.cacheDir ? { cacheDir: ctx.cacheDir } : {}),
    }),
    Promise.all(
      spec.data.map(async (d) => {
        const m: Materialized = ctx.cacheDir
          ? await materializeBag(d.path, { cacheDir: ctx.cacheDir, onStep: step })
          : { path: d.path, source: "as-given" };
        return {
          materialized: m,
          pin: await pinData(m.path, ctx.cacheDir ? { cacheDir: ctx.cacheDir } : {}),
        };
      }),
    ),
    pinEnvironment({
      runtime: spec.runtime,
      ...(ctx.containers ? { containers: ctx.containers } : {}),
      ...(spec.image ? { image: spec.image } : {}),
      ...(spec.build ? { build: spec.build } : {}),
      ...(spec.strictImage ? { strict: true } : {}),
      repo,
      ...(ctx.runner ? { runner: ctx.runner } : {}),
      onLog: (l) => step(l),
    }),
  ]);
  if (code.dirty)
    warnings.push(
      `the working tree is dirty (${code.dirty.modified.length + code.dirty.added.length + code.dirty.deleted.length + code.dirty.untracked.length} files); the manifest records them`,
    );
  if (gpus.kind !== "none" && !environment.gpus?.length) {
    throw new UsageError(
      "no-gpus",
      `--gpus ${describeGpuRequest(gpus)} was asked for, but this host has no NVIDIA GPU (nvidia-smi lists none); run on a GPU runner, or use --gpus none`,
    );
  }
  if (environment.image && !environment.image.pullable) {
    warnings.push(
      `image ${environment.image.reference} has no repository digest (built locally, never pushed): a reproduction elsewhere cannot pull it; push it to a registry`,
    );
  }
  const data: DataPin[] = spec.data.map((d, i) => {
    const p = dataPins[i]!.pin;
    for (const w of p.warnings) warnings.push(`data ${d.name}: ${w}`);
    // The location is where the bag was given (a holey bag's, not the cache's), so a reproduction finds it.
    const pin: DataPin = {
      name: d.name,
      digest: p.digest,
      payloadOxum: p.payloadOxum,
      files: p.files,
      bytes: p.bytes,
      location: resolve(d.path),
    };
    // The stored payload manifest (data-NAME.manifest-sha256.txt) is covered by the signature.
    if (p.manifest !== undefined)
      pin.payloadManifest = createHash("sha256").update(p.manifest).digest("hex");
    if (dataPins[i]!.materialized.source !== "as-given") pin.holey = true;
    return pin;
  });

  // 2. The run's folders and environment.
  const startedAt = now();
  const runId = newRunId(startedAt);
  const work = resolve(ctx.workRoot ?? join(repo, ".track-run", "work"), runId);
  const outputs = resolve(spec.outputs ?? join(work, "outputs"));
  const meta = join(work, "meta");
  fs.mkdirSync(outputs, { recursive: true });
  fs.mkdirSync(meta, { recursive: true });
  if (params) fs.writeFileSync(join(meta, "params.json"), JSON.stringify(params, null, 2));
  const inDocker = spec.runtime === "docker";
  const paths = inDocker
    ? { data: "/data", outputs: "/outputs", meta: "/track-run" }
    : { data: join(work, "data"), outputs, meta };
  const seed = spec.seed;
  const passed: Record<string, string> = {};
  const recordedEnv: Record<string, string> = {};
  const secrets: string[] = [];
  for (const name of spec.env ?? []) {
    const v = ctx.env[name];
    if (v === undefined) {
      warnings.push(`--env ${name} is not set here; not passed`);
      continue;
    }
    passed[name] = v;
    const secret = SECRET_NAME.test(name);
    recordedEnv[name] = secret ? "***" : v;
    if (secret) secrets.push(v);
  }
  const trackEnv: Record<string, string> = {
    TRACK_RUN_ID: runId,
    TRACK_RUN_DATA: paths.data,
    TRACK_RUN_OUTPUTS: paths.outputs,
    TRACK_RUN_METRICS: spec.metricsFile
      ? `${paths.outputs}/${spec.metricsFile}`
      : `${paths.meta}/metrics.json`,
    TRACK_RUN_CURVES: `${paths.meta}/curves.jsonl`,
    ...(params ? { TRACK_RUN_PARAMS: `${paths.meta}/params.json` } : {}),
    // What makes common frameworks deterministic (see docs/reproducing.md).
    PYTHONHASHSEED: String(seed ?? 0),
    CUBLAS_WORKSPACE_CONFIG: ":4096:8",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    ...(seed !== undefined ? { TRACK_RUN_SEED: String(seed) } : {}),
  };
  const mounts = dataPins.map((p, i) => ({
    host: payloadFolder(p.pin, spec.data[i]!.name),
    container: `/data/${spec.data[i]!.name}`,
    readOnly: true,
  }));
  if (!inDocker) {
    // On the host, /data/<name> becomes a folder of links to each payload.
    fs.mkdirSync(paths.data, { recursive: true });
    for (const m of mounts) fs.symlinkSync(m.host, join(paths.data, m.container.slice("/data/".length)));
  }
  const env = inDocker
    ? { HOME: "/tmp", ...passed, ...trackEnv }
    : { PATH: ctx.env.PATH ?? "/usr/bin:/bin", HOME: ctx.env.HOME ?? work, ...passed, ...trackEnv };

  // 3. Run.
  const image = environment.image;
  const executor: Executor = inDocker
    ? new DockerExecutor(ctx.containers!, image!.repoDigest ?? image!.id!)
    : new HostExecutor();
  const log = fs.openSync(join(work, "log.txt"), "w");
  let tail = Buffer.alloc(0);
  const lines: MetricValue[] = [];
  step(
    `running ${spec.command.join(" ")} (${inDocker ? `in ${image!.repoDigest ?? image!.id}` : "on the host"})`,
  );
  let outcome: ExecOutcome;
  try {
    outcome = await executor.run({
      runId,
      command: spec.command,
      env,
      secrets,
      workdir: repo,
      mounts: [
        ...mounts,
        { host: outputs, container: "/outputs", readOnly: false },
        { host: meta, container: "/track-run", readOnly: false },
      ],
      gpus,
      network: spec.network ?? "bridge",
      ...(spec.memoryBytes ? { memoryBytes: spec.memoryBytes } : {}),
      ...(spec.timeoutSeconds ? { timeoutSeconds: spec.timeoutSeconds } : {}),
      ...(ctx.user ? { user: ctx.user } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onLine: (stream, line) => {
        const bytes = Buffer.from(`${line}\n`);
        fs.writeSync(log, bytes);
        tail = Buffer.concat([tail, bytes]).subarray(-TAIL_BYTES);
        const m = parseMetricLine(line);
        if (m) lines.push(m);
        ctx.onLine?.(stream, line);
      },
    });
  } catch (e) {
    outcome = { state: "failed", reason: `the command could not be run: ${(e as Error).message}` };
  } finally {
    fs.closeSync(log);
  }
  const finishedAt = now();

  // 4. Capture.
  step("hashing outputs and reading metrics");
  const metrics = collectMetrics({
    lines,
    metricsFile: spec.metricsFile ? join(outputs, spec.metricsFile) : join(meta, "metrics.json"),
    curvesFile: join(meta, "curves.jsonl"),
    dvcliveDir: join(outputs, "dvclive"),
  });
  warnings.push(...metrics.problems);
  const outputFiles = await hashOutputs(outputs);
  const status: RunStatus = { state: outcome.state };
  if (outcome.reason) status.reason = outcome.reason;
  if (outcome.exitCode !== undefined) status.exitCode = outcome.exitCode;
  status.logTailDigest = createHash("sha256").update(tail).digest("hex");
  status.logDigest = createHash("sha256").update(fs.readFileSync(join(work, "log.txt"))).digest("hex");

  // 5. The manifest.
  // preflight() refused an empty command.
  const invocation: RunManifest["invocation"] = { command: spec.command as [string, ...string[]] };
  if (params) invocation.params = params;
  if (seed !== undefined) invocation.seed = seed;
  invocation.env = {
    ...recordedEnv,
    ...Object.fromEntries(Object.entries(trackEnv).filter(([k]) => !k.startsWith("TRACK_RUN_"))),
  };
  invocation.gpus = describeGpuRequest(gpus);
  if (inDocker) invocation.network = spec.network ?? "bridge";
  if (spec.timeoutSeconds) invocation.timeoutSeconds = spec.timeoutSeconds;
  if (spec.metricsFile) invocation.metricsFile = spec.metricsFile;
  if (spec.memoryBytes) invocation.memoryBytes = spec.memoryBytes;
  if (ctx.actor) invocation.actor = ctx.actor;
  if (ctx.workflowRun) invocation.workflowRun = ctx.workflowRun;
  const manifest: RunManifest = {
    schemaVersion: "1",
    runId,
    model: spec.model,
    code,
    data,
    environment,
    invocation,
    outputs: outputFiles,
    metrics: { final: metrics.final, ...(metrics.curves.length ? { curves: metrics.curves } : {}) },
    status,
    ...(spec.links ? { links: spec.links } : {}),
    timing: {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      ...(outcome.cpuSeconds !== undefined ? { cpuSeconds: outcome.cpuSeconds } : {}),
      ...(outcome.peakMemoryBytes !== undefined ? { peakMemoryBytes: outcome.peakMemoryBytes } : {}),
    },
  };
  const problems = schemaProblems("manifest", manifest);
  if (problems.length) {
    throw new Error(
      `internal: the manifest breaks its schema: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`,
    );
  }

  // 6. Sign and record; a failed signature still leaves the record, unsigned and marked.
  step("signing and recording");
  const metricsFile = join(meta, "metrics.json");
  const subjects = fs.existsSync(metricsFile)
    ? [
        {
          name: "track-run/metrics.json",
          digest: { sha256: createHash("sha256").update(fs.readFileSync(metricsFile)).digest("hex") },
        },
      ]
    : [];
  const statement = buildStatement(manifest, subjects);
  let record: SignedRecord | undefined;
  let signingError: SigningFailedError | undefined;
  try {
    record = await signRecord(statement, spec.signing);
    warnings.push(...record.notes);
  } catch (e) {
    if (!(e instanceof SigningFailedError)) throw e;
    signingError = e;
  }
  const bundleName = record && record.method !== "unsigned" ? "bundle.sigstore.json" : "record.unsigned.json";
  const files: Record<string, string | Uint8Array> = {
    "manifest.json": `${JSON.stringify(manifest, null, 2)}\n`,
    [bundleName]: `${JSON.stringify(record?.document ?? signingError!.unsigned, null, 2)}\n`,
    "log.txt": fs.readFileSync(join(work, "log.txt")),
  };
  if (fs.existsSync(metricsFile)) files["metrics.json"] = fs.readFileSync(metricsFile);
  // Each bag's payload manifest, so a later reproduction can name the files that changed.
  spec.data.forEach((d, i) => {
    const m = dataPins[i]!.pin.manifest;
    if (m !== undefined) files[`data-${d.name}.manifest-sha256.txt`] = m;
  });
  if (gpus.kind !== "none" && outcome.gpuSamples?.length)
    files["gpu-samples.json"] = JSON.stringify(outcome.gpuSamples, null, 2);
  const recordDir = await ledger.putRun(runId, files);
  const result: TrackResult = {
    runId,
    status,
    manifest,
    digest: canonicalDigest(manifest),
    dataSources: spec.data.map((d, i) => {
      const m = dataPins[i]!.materialized;
      return { name: d.name, source: m.source, path: m.path, ...(m.digest ? { digest: m.digest } : {}) };
    }),
    signing: record?.method ?? "failed",
    recordDir,
    manifestPath: join(recordDir, "manifest.json"),
    bundlePath: join(recordDir, bundleName),
    warnings,
  };
  if (signingError) throw Object.assign(signingError, { result });
  return result;
}
