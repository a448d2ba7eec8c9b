// The stages of a tracked run, each taking and returning plain values: pin (code, every bag, the
// image), prepare (the run's folders, environment and mounts), execute (the command, its log),
// collect (metrics, outputs, status). The record stage (manifest, signature, ledger) is record.ts;
// trackRun (track.ts) calls them in order.

import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import type {
  CodePin,
  DataPin,
  EnvironmentPin,
  MetricValue,
  RunManifest,
  RunStatus,
} from "../__generated__/index.js";
import { hashFiles } from "../bag/hash.js";
import { keepInCache } from "../bag/keep.js";
import { type Materialized, materializeBag } from "../bag/materialize.js";
import { type DataPinResult, pinData } from "../bag/pin.js";
import { walkTree } from "../bag/walk.js";
import { TrackRunError, UsageError } from "../errors.js";
import { LOG_TAIL_BYTES } from "../manifest/log.js";
import { pinCode } from "../pin/code.js";
import { pinEnvironment } from "../pin/env.js";
import { prepareValidator } from "../schema/validate.js";
import { OUTPUT_PATH_RULE, outputPathProblem, quoteInput } from "../util/names.js";
import { isSecretName, looksSecret, MASK, SecretMasker, secretsOf } from "../util/secrets.js";
import { protectTrackRunFolder, trackRunFolderOf } from "../util/track-run-folder.js";
import { DockerExecutor } from "./docker-executor.js";
import {
  describeGpuRequest,
  type ExecOutcome,
  type Executor,
  type GpuRequest,
  type Mount,
} from "./executor.js";
import { HostExecutor } from "./host-executor.js";
import { parseLabelLine } from "./labels.js";
import { dataLocation } from "./location.js";
import { collectMetrics, parseMetricLine } from "./metrics.js";
import { type OutputSelection, selectOutputs } from "./outputs.js";
import type { TrackContext, TrackSpec } from "./track.js";

export function newRunId(now: Date): string {
  const t = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${t}-${randomBytes(3).toString("hex")}`;
}

// 1. Pin ---------------------------------------------------------------------------------------

export interface Pinned {
  code: CodePin;
  /** Per bag of spec.data: how it was obtained and its pin. */
  bags: Array<{ materialized: Materialized; pin: DataPinResult }>;
  data: DataPin[];
  environment: EnvironmentPin;
  warnings: string[];
  /** The recorded runs whose outputs are among the data (links.parentRuns), set once they are known. */
  parentRuns?: string[];
}

/** Pins code, every bag and the environment, before anything runs; refuses what cannot run here. */
export async function pinInputs(
  spec: TrackSpec,
  ctx: TrackContext,
  repo: string,
  gpus: GpuRequest,
  step: (m: string) => void,
): Promise<Pinned> {
  const [code, bags, environment] = await Promise.all([
    pinCode(repo, {
      strict: Boolean(spec.strictCode),
      allowNoGit: Boolean(spec.allowNoGit),
      ...(ctx.cacheDir ? { cacheDir: ctx.cacheDir } : {}),
    }),
    Promise.all(spec.data.map((d) => pinBag(d.path, ctx.cacheDir, step))),
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
  const warnings: string[] = [];
  if (code.dirty) {
    const n =
      code.dirty.modified.length +
      code.dirty.added.length +
      code.dirty.deleted.length +
      code.dirty.untracked.length;
    warnings.push(`the working tree is dirty (${n} files); the manifest records them`);
  }
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
  const data = spec.data.map((d, i) => {
    for (const w of bags[i]!.pin.warnings) warnings.push(`data ${d.name}: ${w}`);
    return dataPinOf(d, bags[i]!, repo);
  });
  return { code, bags, data, environment, warnings };
}

async function pinBag(
  path: string,
  cacheDir: string | undefined,
  step: (m: string) => void,
): Promise<Pinned["bags"][number]> {
  const materialized: Materialized = cacheDir
    ? await materializeBag(path, { cacheDir, onStep: step })
    : { path, source: "as-given" };
  const pin = await pinData(materialized.path, cacheDir ? { cacheDir } : {});
  // A plain folder is kept in the content cache too, so a reproduction finds it after it moved.
  if (cacheDir && pin.source === "folder") await keepInCache(materialized.path, pin.digest, cacheDir);
  return { materialized, pin };
}

/** The manifest's entry of a bag. */
function dataPinOf(d: TrackSpec["data"][number], bag: Pinned["bags"][number], repo: string): DataPin {
  const p = bag.pin;
  // Where the bag was given (a holey bag's folder, not the cache's), relative to the repository
  // when inside it, so a reproduction finds it in the recorded commit; a holey bag outside it by
  // the URL of its payload (a reproduction elsewhere uses the content cache, keyed by digest).
  const pin: DataPin = {
    name: d.name,
    digest: p.digest,
    payloadOxum: p.payloadOxum,
    files: p.files,
    bytes: p.bytes,
    location: dataLocation(repo, d.path, bag.materialized.source !== "as-given"),
  };
  // The stored payload manifest (data-NAME.manifest-sha256.txt) is covered by the signature.
  if (p.manifest !== undefined) pin.payloadManifest = createHash("sha256").update(p.manifest).digest("hex");
  if (bag.materialized.source !== "as-given") pin.holey = true;
  if (p.payloadIdentity) pin.payloadIdentity = p.payloadIdentity;
  if (p.info) pin.info = p.info;
  if (d.fromRun) pin.fromRun = { ...d.fromRun };
  return pin;
}

// 2. Prepare -----------------------------------------------------------------------------------

export interface Prepared {
  runId: string;
  startedAt: Date;
  /** The run's folder, its outputs and its meta folder (params, metrics, curves) on this host. */
  work: string;
  outputs: string;
  meta: string;
  inDocker: boolean;
  /** The command's complete environment. */
  env: Record<string, string>;
  /** The invocation's env as recorded: passed variables (secret-looking ones as ***) and track-run's settings. */
  recordedEnv: Record<string, string>;
  mounts: Mount[];
  /** Masks the secret values of this run wherever text is built from it. */
  masker: SecretMasker;
  warnings: string[];
}

/** Makes the run's folders and its environment; secrets among the passed variables are noted for masking. */
export function prepareRun(
  spec: TrackSpec,
  ctx: TrackContext,
  repo: string,
  pinned: Pinned,
  params: Record<string, unknown> | undefined,
  startedAt: Date,
): Prepared {
  const runId = newRunId(startedAt);
  const workRoot = resolve(ctx.workRoot ?? join(repo, ".track-run", "work"));
  const trackRunFolder = trackRunFolderOf(workRoot);
  if (trackRunFolder) protectTrackRunFolder(trackRunFolder);
  const work = resolve(workRoot, runId);
  const outputs = resolve(spec.outputs ?? join(work, "outputs"));
  const meta = join(work, "meta");
  fs.mkdirSync(outputs, { recursive: true });
  fs.mkdirSync(meta, { recursive: true });
  if (params) fs.writeFileSync(join(meta, "params.json"), JSON.stringify(params, null, 2));
  const inDocker = spec.runtime === "docker";
  const paths = inDocker
    ? { data: "/data", outputs: "/outputs", meta: "/track-run" }
    : { data: join(work, "data"), outputs, meta };
  const { passed, recorded, masker, warnings } = passedEnvironment(spec.env ?? [], ctx);
  const trackEnv = trackRunEnvironment(spec, runId, paths, params !== undefined);
  const mounts = pinned.bags.map((b, i) => ({
    host: payloadFolder(b.pin, spec.data[i]!.name),
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
  const recordedEnv = {
    ...recorded,
    ...Object.fromEntries(Object.entries(trackEnv).filter(([k]) => !k.startsWith("TRACK_RUN_"))),
  };
  return { runId, startedAt, work, outputs, meta, inDocker, env, recordedEnv, mounts, masker, warnings };
}

/** The allow-listed variables: their values for the command, as recorded, and the masker of the secret ones. */
function passedEnvironment(
  names: readonly string[],
  ctx: TrackContext,
): {
  passed: Record<string, string>;
  recorded: Record<string, string>;
  masker: SecretMasker;
  warnings: string[];
} {
  const passed: Record<string, string> = {};
  const recorded: Record<string, string> = {};
  const warnings: string[] = [];
  for (const name of names) {
    const v = ctx.env[name];
    if (v === undefined) {
      warnings.push(`--env ${name} is not set here; not passed`);
      continue;
    }
    passed[name] = v;
    recorded[name] = isSecretName(name) || looksSecret(v) ? MASK : v;
  }
  const secrets = secretsOf(passed);
  warnings.push(...secrets.warnings);
  return {
    passed,
    recorded,
    masker: new SecretMasker([...secrets.values, ...(ctx.secrets ?? [])]),
    warnings,
  };
}

/** What track-run tells the command (TRACK_RUN_*) and the settings that make frameworks deterministic. */
function trackRunEnvironment(
  spec: TrackSpec,
  runId: string,
  paths: { data: string; outputs: string; meta: string },
  hasParams: boolean,
): Record<string, string> {
  const seed = spec.seed;
  return {
    TRACK_RUN_ID: runId,
    TRACK_RUN_DATA: paths.data,
    TRACK_RUN_OUTPUTS: paths.outputs,
    TRACK_RUN_METRICS: spec.metricsFile
      ? `${paths.outputs}/${spec.metricsFile}`
      : `${paths.meta}/metrics.json`,
    TRACK_RUN_CURVES: `${paths.meta}/curves.jsonl`,
    ...(hasParams ? { TRACK_RUN_PARAMS: `${paths.meta}/params.json` } : {}),
    // What makes common frameworks deterministic (see docs/reproducing.md).
    PYTHONHASHSEED: String(seed ?? 0),
    CUBLAS_WORKSPACE_CONFIG: ":4096:8",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    ...(seed !== undefined ? { TRACK_RUN_SEED: String(seed) } : {}),
  };
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

// 3. Execute -----------------------------------------------------------------------------------

export interface Executed {
  outcome: ExecOutcome;
  /** Metric lines the command printed (masked). */
  lines: MetricValue[];
  /** Labels the command printed (`::track-run label key=value`), the last of each key, and malformed label lines. */
  labels: Record<string, string>;
  labelProblems: string[];
  /** The last 64 KiB of the log. */
  tail: Buffer;
  /** sha256 of the whole log, hashed as it was written. */
  logDigest: string;
  logPath: string;
  finishedAt: Date;
}

/** Runs the command in the pinned image or on the host; every line is masked before it is logged. */
export async function executeRun(
  spec: TrackSpec,
  ctx: TrackContext,
  repo: string,
  prepared: Prepared,
  environment: EnvironmentPin,
  gpus: GpuRequest,
  step: (m: string) => void,
): Promise<Executed> {
  const { inDocker } = prepared;
  const image = environment.image;
  const executor: Executor = inDocker
    ? new DockerExecutor(ctx.containers!, image!.repoDigest ?? image!.id!)
    : new HostExecutor();
  const logPath = join(prepared.work, "log.txt");
  const log = fs.openSync(logPath, "w");
  // The log is hashed as it is written, and its tail kept without copying it for every line.
  const logHash = createHash("sha256");
  const tail = new LogTail(LOG_TAIL_BYTES);
  const lines: MetricValue[] = [];
  const labels: Record<string, string> = {};
  const labelProblems: string[] = [];
  step(
    `running ${spec.command.join(" ")} (${inDocker ? `in ${image!.repoDigest ?? image!.id}` : "on the host"})`,
  );
  let outcome: ExecOutcome;
  try {
    outcome = await executor.run({
      runId: prepared.runId,
      command: spec.command,
      env: prepared.env,
      secrets: prepared.masker.patterns,
      workdir: repo,
      mounts: [
        ...prepared.mounts,
        { host: prepared.outputs, container: "/outputs", readOnly: false },
        { host: prepared.meta, container: "/track-run", readOnly: false },
      ],
      gpus,
      network: spec.network ?? "bridge",
      ...(spec.memoryBytes ? { memoryBytes: spec.memoryBytes } : {}),
      ...(spec.timeoutSeconds ? { timeoutSeconds: spec.timeoutSeconds } : {}),
      ...(ctx.user ? { user: ctx.user } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      // The manifest's schema is compiled while the command starts, not after it ends. On the
      // next turn of the event loop: the start request is written first.
      onStarting: () => {
        setImmediate(() => prepareValidator("manifest"));
      },
      onLine: (stream, line) => {
        const bytes = Buffer.from(`${line}\n`);
        fs.writeSync(log, bytes);
        logHash.update(bytes);
        tail.push(bytes);
        const m = parseMetricLine(line);
        if (m) lines.push(m);
        const l = m ? undefined : parseLabelLine(line);
        if (l && "problem" in l) labelProblems.push(l.problem);
        else if (l) labels[l.key] = l.value;
        ctx.onLine?.(stream, line);
      },
    });
  } catch (e) {
    outcome = { state: "failed", reason: `the command could not be run: ${(e as Error).message}` };
  } finally {
    fs.closeSync(log);
  }
  return {
    outcome,
    lines,
    labels,
    labelProblems,
    tail: tail.bytes(),
    logDigest: logHash.digest("hex"),
    logPath,
    finishedAt: (ctx.now ?? (() => new Date()))(),
  };
}

/** The last `size` bytes of what was pushed, kept as chunks and joined once. */
class LogTail {
  private chunks: Buffer[] = [];
  private length = 0;
  constructor(private readonly size: number) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
    // Drop whole chunks that fall out of the window (the first one left may straddle it).
    while (this.chunks.length > 1 && this.length - this.chunks[0]!.length >= this.size)
      this.length -= this.chunks.shift()!.length;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks).subarray(-this.size);
  }
}

// 4. Collect -----------------------------------------------------------------------------------

export interface Collected {
  metrics: RunManifest["metrics"];
  outputs: RunManifest["outputs"];
  /** With track: declared, the files matching no declared glob (not hashed, not signed). */
  untracked?: NonNullable<RunManifest["untracked"]>;
  status: RunStatus;
  warnings: string[];
}

/** Reads the metrics, hashes the outputs and states how the run ended. */
export async function collectRun(
  spec: TrackSpec,
  prepared: Prepared,
  executed: Executed,
): Promise<Collected> {
  const { outputs, meta } = prepared;
  const metrics = collectMetrics({
    lines: executed.lines,
    metricsFile: spec.metricsFile ? join(outputs, spec.metricsFile) : join(meta, "metrics.json"),
    curvesFile: join(meta, "curves.jsonl"),
    dvcliveDir: join(outputs, "dvclive"),
  });
  const { outcome } = executed;
  const status: RunStatus = { state: outcome.state };
  if (outcome.reason) status.reason = outcome.reason;
  if (outcome.exitCode !== undefined) status.exitCode = outcome.exitCode;
  status.logTailDigest = createHash("sha256").update(executed.tail).digest("hex");
  status.logDigest = executed.logDigest;
  const hashed = await hashOutputs(outputs, {
    roles: spec.outputRoles ?? [],
    track: spec.track ?? "all",
    ...(spec.metricsFile ? { metricsFile: spec.metricsFile } : {}),
  });
  return {
    metrics: { final: metrics.final, ...(metrics.curves.length ? { curves: metrics.curves } : {}) },
    outputs: hashed.outputs,
    ...(hashed.untracked ? { untracked: hashed.untracked } : {}),
    status,
    warnings: [...metrics.problems, ...hashed.refused, ...executed.labelProblems],
  };
}

/**
 * Every output file, hashed. A file whose name is not an output name (a backslash, a control
 * character: see util/names.ts) is left out of the signed outputs, with a warning naming it.
 */
async function hashOutputs(
  dir: string,
  selection: OutputSelection,
): Promise<{
  outputs: RunManifest["outputs"];
  untracked?: NonNullable<RunManifest["untracked"]>;
  refused: string[];
}> {
  const walked = walkTree(dir);
  const refused: string[] = [];
  const named = walked.files.filter((f) => {
    const problem = outputPathProblem(f.rel);
    if (problem)
      refused.push(`output ${quoteInput(f.rel)} is not recorded: its name ${problem}; ${OUTPUT_PATH_RULE}`);
    return !problem;
  });
  const { tracked: files, roles, untracked } = selectOutputs(named, selection);
  const results = await hashFiles(
    files.map((f) => ({ path: f.abs, size: f.size })),
    ["sha256"],
  );
  const outputs = files.map((f, i) => {
    const r = results[i]!;
    if (!r.ok)
      throw new TrackRunError("output-unreadable", `output ${f.rel} cannot be read: ${r.message}`, {
        kind: "check",
      });
    const role = roles[i];
    return { path: f.rel, sha256: r.digests.sha256!, size: r.bytes, ...(role ? { role } : {}) };
  });
  return { outputs, ...(untracked ? { untracked } : {}), refused };
}
