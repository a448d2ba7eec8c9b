// Track a training run, stage by stage (stages.ts, record.ts): pin first (code, every bag, the
// image), failing early with clear errors; prepare the run's folders and environment; execute the
// command in the pinned image (or on the host); collect logs, metrics and outputs; record the
// manifest (secret values masked), signed, in the ledger. A failed, timed-out, killed or cancelled
// run is recorded too, with its status.
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { OutputRole, RunManifest, RunStatus } from "../__generated__/index.js";
import type { Materialized } from "../bag/materialize.js";
import { safePath } from "../bag/paths.js";
import type { ContainerRuntime } from "../docker/runtime.js";
import { TrackRunError, UsageError } from "../errors.js";
import type { GitLedgerOptions } from "../ledger/git.js";
import { openLedger } from "../ledger/open.js";
import { LedgerReader } from "../ledger/reader.js";
import type { Trust } from "../ledger/records.js";
import { openRunIndex } from "../ledger/run-index.js";
import { canonicalDigest } from "../manifest/canonical.js";
import type { ArtifactRecord } from "../oci/artifact.js";
import { publishRun, type RegistryAccess } from "../oci/publish.js";
import { parseOciReference } from "../oci/reference.js";
import type { BuildOptions, RunnerContext } from "../pin/env.js";
import type { SignedRecord, SigningPlan } from "../sign/plan.js";
import { newOrEmptyFolderProblem, readInputText } from "../util/files.js";
import { isName, NAME_RULE, quoteInput } from "../util/names.js";
import { SecretMasker } from "../util/secrets.js";
import { parseGpuRequest } from "./executor.js";
import { findParentRuns, rememberOutputsFolder, resolveRunInputs } from "./pipeline.js";
import { buildManifest, recordRun } from "./record.js";
import { collectRun, executeRun, type Pinned, pinInputs, prepareRun } from "./stages.js";

export interface TrackSpec {
  model: string;
  command: string[];
  /** The source folder (usually the repository root). */
  repo: string;
  runtime: "docker" | "host";
  image?: string;
  build?: BuildOptions;
  /** Each data input: a path, or (fromRun) the outputs of a recorded run, found and checked before the run starts. */
  data: Array<{ name: string; path: string; fromRun?: { runId: string; path?: string } }>;
  /** Labels from track-run.yml; the command's `::track-run label` lines override them, and labelOverrides (--label) both. */
  labels?: Record<string, string>;
  labelOverrides?: Record<string, string>;
  /** Roles of outputs by glob (relative to the outputs folder); the first match gives a file's role. */
  outputRoles?: Array<{ path: string; role: OutputRole }>;
  /** all (default): every output is signed; declared: only outputs matching an outputRoles glob. */
  track?: "all" | "declared";
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
  /** oci://REGISTRY/REPO: a succeeded run's signed outputs are pushed there as one artifact (oci/). */
  artifacts?: string;
}

export interface TrackContext {
  /** The caller's environment, read only for the allow-listed names (and PATH/HOME on the host). */
  env: Readonly<Record<string, string | undefined>>;
  /** Other secret values to mask wherever the run's record, log or messages are built (a token the caller holds). */
  secrets?: readonly string[];
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
  /** Whose records count when a run reads a recorded run's outputs (run: data, and linking by payload identity); none trusted when absent. */
  trust?: Trust;
  /** Registry credentials and retry notes, for --artifacts and run: data pulled from a registry. */
  registry?: RegistryAccess;
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
  /** The OCI artifact the outputs were pushed as (with --artifacts). */
  artifact?: ArtifactRecord;
  /** Folder of the run in the ledger, and its two main files. */
  recordDir: string;
  manifestPath: string;
  bundlePath: string;
  warnings: string[];
}

export { newRunId } from "./stages.js";

function readParams(path: string): Record<string, unknown> {
  const text = readInputText(path, `--params "${path}"`);
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
  if (!isName(spec.model)) problems.push(`model ${quoteInput(spec.model)} is not a model name: ${NAME_RULE}`);
  const names = new Set<string>();
  for (const d of spec.data) {
    if (!isName(d.name)) problems.push(`--data ${quoteInput(d.name)} is not a data name: ${NAME_RULE}`);
    if (names.has(d.name)) problems.push(`--data ${d.name} is given twice`);
    names.add(d.name);
    if (!d.fromRun && !fs.existsSync(d.path))
      problems.push(`--data ${d.name}=${d.path}: "${d.path}" does not exist`);
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
  if (spec.artifacts !== undefined) {
    try {
      parseOciReference(spec.artifacts, "--artifacts");
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  const outputsProblem = spec.outputs ? newOrEmptyFolderProblem(spec.outputs, "--outputs") : undefined;
  if (outputsProblem) problems.push(`${outputsProblem}, so that only this run's files are recorded`);
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

export async function trackRun(given: TrackSpec, ctx: TrackContext): Promise<TrackResult> {
  const now = ctx.now ?? (() => new Date());
  let spec = given;
  preflight(spec);
  const repo = resolve(spec.repo);
  const ledger = openLedger(spec.ledger, ctx.ledgerOptions);
  const params = spec.params ? readParams(spec.params) : undefined;
  const gpus = parseGpuRequest(spec.gpus)!;
  if (spec.runtime === "docker" && !ctx.containers)
    throw new UsageError("usage", "the docker runtime needs a container engine");

  // Messages lose URL credentials from the start, and the run's secret values once they are known.
  let masker = new SecretMasker([]);
  const mask = (text: string) => masker.scrub(text);
  const onStep = ctx.onStep ?? (() => undefined);
  const step = (m: string) => onStep(mask(m));
  try {
    // A ledger that cannot take the record is refused before anything runs.
    await ledger.ready();
    // Runs read as data: one snapshot of the ledger, read only when the run has data.
    // With the local index (under the cache folder) records verified before are not read again.
    const index = spec.data.length ? await openRunIndex(ctx.cacheDir, ledger.identity) : undefined;
    const reader = spec.data.length
      ? await LedgerReader.open(ledger, ctx.trust ?? { keys: [] }, index ? { index } : {})
      : undefined;
    const pipelineWarnings: string[] = [];
    if (reader && spec.data.some((d) => d.fromRun)) {
      const workRoot = resolve(ctx.workRoot ?? join(repo, ".track-run", "work"));
      const resolved = await resolveRunInputs(spec.data, reader, workRoot, step, ctx.registry);
      spec = { ...spec, data: resolved.data };
      pipelineWarnings.push(...resolved.warnings);
    }
    step("pinning code, data and environment");
    const pinned = await pinInputs(spec, ctx, repo, gpus, step);
    if (reader) await linkParentRuns(pinned, reader, step);
    const prepared = prepareRun(spec, ctx, repo, pinned, params, now());
    rememberOutputsFolder(prepared.work, prepared.outputs);
    masker = prepared.masker;
    const warnings = [...pipelineWarnings, ...pinned.warnings, ...prepared.warnings];
    const executed = await executeRun(spec, ctx, repo, prepared, pinned.environment, gpus, step);
    step("hashing outputs and reading metrics");
    const collected = await collectRun(spec, prepared, executed);
    warnings.push(...collected.warnings);
    const manifest = buildManifest(spec, ctx, gpus, params, { pinned, prepared, executed, collected });
    step("signing and recording");
    const recorded = await recordRun(manifest, spec.signing, ledger, {
      meta: prepared.meta,
      logPath: executed.logPath,
      masker,
      payloadManifests: Object.fromEntries(spec.data.map((d, i) => [d.name, pinned.bags[i]!.pin.manifest])),
      ...(gpus.kind !== "none" && executed.outcome.gpuSamples
        ? { gpuSamples: executed.outcome.gpuSamples }
        : {}),
    });
    if (recorded.record) warnings.push(...recorded.record.notes);
    const result: TrackResult = {
      runId: manifest.runId,
      status: manifest.status,
      manifest,
      digest: canonicalDigest(manifest),
      dataSources: spec.data.map((d, i) => {
        const m = pinned.bags[i]!.materialized;
        return { name: d.name, source: m.source, path: m.path, ...(m.digest ? { digest: m.digest } : {}) };
      }),
      signing: recorded.record?.method ?? "failed",
      recordDir: recorded.recordDir,
      manifestPath: join(recorded.recordDir, "manifest.json"),
      bundlePath: join(recorded.recordDir, recorded.bundleName),
      warnings: warnings.map(mask),
    };
    if (recorded.signingError) throw Object.assign(recorded.signingError, { result });
    if (spec.artifacts && manifest.status.state === "succeeded" && manifest.outputs.length) {
      step(`pushing ${manifest.outputs.length} output(s) to ${spec.artifacts}`);
      try {
        result.artifact = await publishRun(ledger, {
          artifacts: spec.artifacts,
          manifest,
          manifestDigest: result.digest,
          outputsDir: prepared.outputs,
          ...(recorded.record && recorded.record.method !== "unsigned"
            ? { bundle: recorded.record.document }
            : {}),
          ...(ctx.registry ? { access: ctx.registry } : {}),
          onStep: step,
        });
        step(`outputs pushed as ${result.artifact.reference}`);
      } catch (e) {
        if (e instanceof TrackRunError)
          throw Object.assign(
            new TrackRunError(
              e.code,
              `run ${manifest.runId} is recorded, but its outputs were not pushed: ${e.message}`,
              {
                kind: e.kind,
                cause: e,
                details: e.details,
              },
            ),
            { result },
          );
        throw e;
      }
    }
    return result;
  } catch (e) {
    throw maskError(e, mask);
  }
}

/** Data found, by payload identity, to be a verified recorded run's outputs is linked to that run; links.parentRuns lists every run read. */
async function linkParentRuns(
  pinned: Pinned,
  reader: LedgerReader,
  step: (m: string) => void,
): Promise<void> {
  const found = await findParentRuns(pinned.data, reader);
  for (const d of pinned.data) {
    const hit = found.get(d.name);
    if (!hit) continue;
    d.fromRun = hit;
    step(
      `data ${d.name} is the outputs of run ${hit.runId}${hit.path ? ` (${hit.path}/)` : ""} (same payload identity ${d.payloadIdentity}); linked to it`,
    );
  }
  const parents = [...new Set(pinned.data.flatMap((d) => (d.fromRun ? [d.fromRun.runId] : [])))];
  if (parents.length) pinned.parentRuns = parents;
}

/** An error of a run whose message (and details) might quote a secret value, masked. */
function maskError(e: unknown, mask: (text: string) => string): unknown {
  if (!(e instanceof Error)) return e;
  e.message = mask(e.message);
  if (e instanceof TrackRunError && e.details.length)
    Object.defineProperty(e, "details", { value: e.details.map(mask), enumerable: true });
  return e;
}
