// The record stage of a tracked run: the manifest, built from the other stages' values with every
// secret value masked (so the signed record never holds one), its signature, and the files that go
// to the ledger.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import type { CodePin, RunManifest } from "../__generated__/index.js";
import { outputsIdentity } from "../bag/identity.js";
import { schemaProblems } from "../schema/validate.js";
import { type SignedRecord, SigningFailedError, type SigningPlan, signRecord } from "../sign/plan.js";
import { buildStatement } from "../sign/statement.js";
import { type SecretMasker, stripCredentials } from "../util/secrets.js";
import { describeGpuRequest, type GpuRequest, type GpuSample } from "./executor.js";
import { mergeLabels } from "./labels.js";
import type { Collected, Executed, Pinned, Prepared } from "./stages.js";
import type { TrackContext, TrackSpec } from "./track.js";

/** Where the record goes: the ledger's write of one run folder. */
export interface RunSink {
  putRun(runId: string, files: Record<string, string | Uint8Array>): Promise<string>;
}

/** The manifest of a run from its stages' values, masked; refused (a bug) when it breaks its schema. */
export function buildManifest(
  spec: TrackSpec,
  ctx: TrackContext,
  gpus: GpuRequest,
  params: Record<string, unknown> | undefined,
  stages: { pinned: Pinned; prepared: Prepared; executed: Executed; collected: Collected },
): RunManifest {
  const { pinned, prepared, executed, collected } = stages;
  // preflight() refused an empty command.
  const invocation: RunManifest["invocation"] = { command: spec.command as [string, ...string[]] };
  if (params) invocation.params = params;
  if (spec.seed !== undefined) invocation.seed = spec.seed;
  invocation.env = prepared.recordedEnv;
  invocation.gpus = describeGpuRequest(gpus);
  if (prepared.inDocker) invocation.network = spec.network ?? "bridge";
  if (spec.timeoutSeconds) invocation.timeoutSeconds = spec.timeoutSeconds;
  if (spec.metricsFile) invocation.metricsFile = spec.metricsFile;
  if (spec.memoryBytes) invocation.memoryBytes = spec.memoryBytes;
  if (ctx.actor) invocation.actor = ctx.actor;
  if (ctx.workflowRun) invocation.workflowRun = ctx.workflowRun;
  const { outcome, finishedAt } = executed;
  const { startedAt } = prepared;
  const manifest: RunManifest = {
    schemaVersion: "1",
    runId: prepared.runId,
    model: spec.model,
    code: pinned.code,
    data: pinned.data,
    environment: pinned.environment,
    invocation,
    outputs: collected.outputs,
    outputsIdentity: outputsIdentity(collected.outputs),
    ...(collected.untracked ? { untracked: collected.untracked } : {}),
    metrics: collected.metrics,
    status: collected.status,
    ...(linksOf(spec.links, pinned.parentRuns ?? []) ?? {}),
    timing: {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      ...(outcome.cpuSeconds !== undefined ? { cpuSeconds: outcome.cpuSeconds } : {}),
      ...(outcome.peakMemoryBytes !== undefined ? { peakMemoryBytes: outcome.peakMemoryBytes } : {}),
    },
  };
  const labels = mergeLabels(spec.labels, executed.labels, spec.labelOverrides);
  if (labels) manifest.labels = labels;
  const masked = maskManifest(manifest, prepared.masker);
  const problems = schemaProblems("manifest", masked);
  if (problems.length) {
    throw new Error(
      `internal: the manifest breaks its schema: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`,
    );
  }
  return masked;
}

/** The manifest's links: the spec's, with the runs whose outputs this run read (parentRuns). */
function linksOf(
  links: RunManifest["links"] | undefined,
  parentRuns: readonly string[],
): { links: NonNullable<RunManifest["links"]> } | undefined {
  if (!links && !parentRuns.length) return undefined;
  return { links: { ...links, ...(parentRuns.length ? { parentRuns: [...parentRuns] } : {}) } };
}

/**
 * The manifest with every secret value masked where text from the run, the user or the command
 * lands (command, parameters, environment, metric names, curve keys, output paths, the status
 * reason, data locations, code facts), and URL credentials stripped in all of them. Digests and ids are left
 * alone: a short secret must not rewrite a hash.
 */
export function maskManifest(m: RunManifest, masker: SecretMasker): RunManifest {
  const s = (x: string) => masker.scrub(x);
  const out: RunManifest = {
    ...m,
    code: maskCode(m.code, masker),
    data: m.data.map((d) => ({
      ...d,
      ...(d.location ? { location: stripCredentials(s(d.location)) } : {}),
      ...(d.info
        ? { info: Object.fromEntries(Object.entries(d.info).map(([k, vs]) => [s(k), vs.map(s)])) }
        : {}),
    })),
    invocation: {
      ...m.invocation,
      command: m.invocation.command.map(s) as [string, ...string[]],
      ...(m.invocation.params ? { params: masker.maskDeep(m.invocation.params) } : {}),
      ...(m.invocation.env ? { env: masker.maskDeep(m.invocation.env) } : {}),
    },
    outputs: m.outputs.map((o) => ({ ...o, path: s(o.path) })),
    ...(m.untracked ? { untracked: m.untracked.map((o) => ({ ...o, path: s(o.path) })) } : {}),
    ...(m.labels ? { labels: Object.fromEntries(Object.entries(m.labels).map(([k, v]) => [k, s(v)])) } : {}),
    metrics: {
      final: m.metrics.final.map((x) => ({ ...x, name: s(x.name) })),
      ...(m.metrics.curves ? { curves: m.metrics.curves.map((x) => ({ ...x, name: s(x.name) })) } : {}),
    },
    status: { ...m.status, ...(m.status.reason ? { reason: s(m.status.reason) } : {}) },
  };
  return out;
}

function maskCode(c: CodePin, masker: SecretMasker): CodePin {
  const s = (x: string) => masker.scrub(x);
  const out: CodePin = { ...c };
  if (c.remote) out.remote = stripCredentials(s(c.remote));
  if (c.ref) out.ref = s(c.ref);
  if (c.tags) out.tags = c.tags.map(s);
  if (c.author) out.author = s(c.author);
  if (c.submodules)
    out.submodules = c.submodules.map((m) => ({
      ...m,
      path: s(m.path),
      ...(m.url ? { url: stripCredentials(s(m.url)) } : {}),
    }));
  if (c.dirty)
    out.dirty = {
      ...c.dirty,
      modified: c.dirty.modified.map(s),
      added: c.dirty.added.map(s),
      deleted: c.dirty.deleted.map(s),
      untracked: c.dirty.untracked.map(s),
    };
  return out;
}

export interface Recorded {
  record?: SignedRecord;
  signingError?: SigningFailedError;
  recordDir: string;
  bundleName: string;
}

/**
 * Signs the manifest (the run's metrics file as a subject beside the outputs) and writes the run's
 * folder: manifest, bundle (or the unsigned envelope when signing failed), log, metrics, payload
 * manifests, GPU samples. The metrics file is stored masked, and its digest is that of what is stored.
 */
export async function recordRun(
  manifest: RunManifest,
  signing: SigningPlan,
  sink: RunSink,
  run: {
    meta: string;
    logPath: string;
    masker: SecretMasker;
    payloadManifests: Record<string, string | undefined>;
    gpuSamples?: GpuSample[];
  },
): Promise<Recorded> {
  const metricsPath = join(run.meta, "metrics.json");
  const metrics = fs.existsSync(metricsPath)
    ? maskedBytes(fs.readFileSync(metricsPath), run.masker)
    : undefined;
  const subjects = metrics
    ? [
        {
          name: "track-run/metrics.json",
          digest: { sha256: createHash("sha256").update(metrics).digest("hex") },
        },
      ]
    : [];
  let record: SignedRecord | undefined;
  let signingError: SigningFailedError | undefined;
  try {
    record = await signRecord(buildStatement(manifest, subjects), signing);
  } catch (e) {
    if (!(e instanceof SigningFailedError)) throw e;
    signingError = e;
  }
  const bundleName = record && record.method !== "unsigned" ? "bundle.sigstore.json" : "record.unsigned.json";
  const files: Record<string, string | Uint8Array> = {
    "manifest.json": `${JSON.stringify(manifest, null, 2)}\n`,
    [bundleName]: `${JSON.stringify(record?.document ?? signingError!.unsigned, null, 2)}\n`,
    "log.txt": fs.readFileSync(run.logPath),
  };
  if (metrics) files["metrics.json"] = metrics;
  // Each bag's payload manifest, so a later reproduction can name the files that changed.
  for (const [name, m] of Object.entries(run.payloadManifests))
    if (m !== undefined) files[`data-${name}.manifest-sha256.txt`] = m;
  if (run.gpuSamples?.length) files["gpu-samples.json"] = JSON.stringify(run.gpuSamples, null, 2);
  const recordDir = await sink.putRun(manifest.runId, files);
  return { ...(record ? { record } : {}), ...(signingError ? { signingError } : {}), recordDir, bundleName };
}

/** The bytes of a file the command wrote, with secret values masked (unchanged when none is in it). */
function maskedBytes(bytes: Buffer, masker: SecretMasker): Buffer {
  if (masker.empty) return bytes;
  const text = bytes.toString("utf8");
  const masked = masker.mask(text);
  return masked === text ? bytes : Buffer.from(masked, "utf8");
}
