// The root action: inputs -> core -> outputs, step summary, exit. Nothing else lives here.
import { homedir } from "node:os";
import { join } from "node:path";
import * as core from "@actions/core";
import { workflowRunFromEnvironment } from "@track-run/core/github";
import { assertName } from "@track-run/core/names";
import { credentialsFor } from "@track-run/core/oci";
import { runnerFromEnvironment } from "@track-run/core/pin";
import {
  readRunConfig,
  resolveRunSpec,
  type TrackResult,
  type TrackSpec,
  trackRun,
  userOfThisProcess,
} from "@track-run/core/run";
import { loadTrust, type SigningPlan } from "@track-run/core/sign";
import { failStep } from "../../fail.js";
import { ledgerOptions } from "../../ledger.js";
import { flag, signingPlan } from "../../signing.js";
import { attestRun } from "./attest.js";
import { restoreCaches, saveCaches } from "./cache.js";

const lines = (name: string) =>
  core
    .getInput(name)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function readSpec(plan: SigningPlan): TrackSpec {
  const configInput = core.getInput("config");
  const { config, baseDir } = readRunConfig(configInput || "track-run.yml", Boolean(configInput));
  const command = core.getInput("command").trim();
  const spec = resolveRunSpec(
    {
      model: core.getInput("model"),
      image: core.getInput("image"),
      dockerfile: core.getInput("dockerfile"),
      context: core.getInput("context"),
      data: lines("data"),
      label: lines("labels"),
      outputs: core.getInput("outputs"),
      params: core.getInput("params"),
      metrics: core.getInput("metrics"),
      gpus: core.getInput("gpus"),
      runtime: core.getInput("runtime"),
      network: core.getInput("network"),
      env: lines("env"),
      seed: core.getInput("seed"),
      timeout: core.getInput("timeout"),
      memory: core.getInput("memory"),
      ledger: core.getInput("ledger"),
      artifacts: core.getInput("artifacts"),
      strict: flag("strict"),
    },
    command ? ["sh", "-c", command] : [],
    config,
    baseDir,
    { ledger: "dir:.track-run/ledger" },
  );
  for (const name of spec.env ?? []) {
    const v = process.env[name];
    if (v && /(TOKEN|SECRET|PASSW|PRIVATE|CREDENTIAL|KEY)/i.test(name)) core.setSecret(v);
  }
  return { ...spec, signing: plan };
}

async function writeSummary(r: TrackResult): Promise<void> {
  const m = r.manifest;
  const icon = r.status.state === "succeeded" ? "✅" : r.status.state === "cancelled" ? "⏹️" : "❌";
  const s = core.summary.addHeading(`${icon} ${m.model}: run ${r.runId} ${r.status.state}`, 3);
  if (r.status.reason) s.addRaw(`<p>${r.status.reason}</p>`, true);
  const img = m.environment.image;
  s.addTable([
    [
      { data: "pin", header: true },
      { data: "value", header: true },
    ],
    [
      "code",
      m.code.kind === "git"
        ? `<code>${m.code.commit}</code>${m.code.dirty ? " (dirty)" : ""}`
        : `content <code>${m.code.contentDigest}</code>`,
    ],
    ...m.data.map((d) => [
      `data <code>${d.name}</code>`,
      `<code>${d.digest}</code> (${plural(d.files, "file")}, ${plural(d.bytes, "byte")})`,
    ]),
    [
      "image",
      img
        ? `<code>${img.repoDigest ?? img.id}</code>${img.pullable ? "" : " (not pullable by digest)"}`
        : "host runtime",
    ],
    ["GPUs", m.environment.gpus?.length ? m.environment.gpus.map((g) => g.name).join(", ") : "none"],
  ]);
  if (m.metrics.final.length) {
    s.addHeading("Metrics", 4).addTable([
      [
        { data: "metric", header: true },
        { data: "stage", header: true },
        { data: "value", header: true },
      ],
      ...m.metrics.final.map((x) => [x.name, x.stage ?? "", String(x.value)]),
    ]);
  }
  const t = m.timing;
  s.addHeading("Timing", 4).addList([
    `wall ${t.wallSeconds?.toFixed(1)} s`,
    ...(t.cpuSeconds !== undefined ? [`CPU ${t.cpuSeconds.toFixed(1)} s`] : []),
    ...(t.peakMemoryBytes !== undefined
      ? [`peak memory ${(t.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB`]
      : []),
  ]);
  s.addRaw(
    `<p>${plural(m.outputs.length, "output")}; signed: <b>${r.signing}</b>; manifest digest <code>${r.digest}</code></p>`,
    true,
  );
  await s.write();
}

/** The names among the inputs, checked before anything else happens. */
function checkNames(): void {
  const model = core.getInput("model");
  if (model) assertName("model", model, "input model");
  for (const d of lines("data")) {
    const i = d.indexOf("=");
    if (i > 0) assertName("data", d.slice(0, i), "input data:");
  }
}

async function run(): Promise<void> {
  checkNames();
  const spec = readSpec(await signingPlan("the run"));
  const containers =
    spec.runtime === "docker"
      ? await (await import("@track-run/core/docker")).openDockerRuntime(
          process.env.DOCKER_HOST ? { host: process.env.DOCKER_HOST } : {},
        )
      : undefined;
  const cacheDir =
    process.env.TRACK_RUN_CACHE ??
    (process.env.RUNNER_ENVIRONMENT === "github-hosted" && process.env.RUNNER_TEMP
      ? join(process.env.RUNNER_TEMP, "track-run-cache")
      : join(homedir(), ".cache", "track-run"));
  const restored = await restoreCaches(
    cacheDir,
    spec.data.map((d) => d.path),
    spec.image,
    containers,
  );
  const controller = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => controller.abort(sig));
  let group = false;
  const workflowRun = workflowRunFromEnvironment(process.env);
  const result = await trackRun(spec, {
    env: process.env,
    runner: runnerFromEnvironment(process.env),
    ...(process.env.GITHUB_ACTOR ? { actor: process.env.GITHUB_ACTOR } : {}),
    ...(workflowRun ? { workflowRun } : {}),
    ...(containers ? { containers } : {}),
    cacheDir,
    ledgerOptions: ledgerOptions(cacheDir),
    // The action's own secrets are masked in the record and the log too, should the command print them.
    secrets: [
      core.getInput("github-token"),
      core.getInput("signing-key"),
      process.env.TRACK_RUN_REGISTRY_PASSWORD ?? "",
    ].filter((v) => v !== ""),
    // Registry credentials: TRACK_RUN_REGISTRY_USER/PASSWORD, or a docker login's ~/.docker/config.json.
    registry: {
      credentials: (registry) => credentialsFor(registry, { env: process.env, home: homedir() }),
      onRetry: (m) => core.info(`track-run: ${m}`),
    },
    ...(spec.data.length
      ? {
          trust: loadTrust({
            trustedKeys: core.getMultilineInput("trusted-keys"),
            trust: core.getInput("trust"),
          }),
        }
      : {}),
    ...userOfThisProcess(),
    signal: controller.signal,
    onStep: (message) => {
      if (group) core.endGroup();
      core.startGroup(`track-run: ${message}`);
      group = true;
    },
    onLine: (_stream, line) => core.info(line),
  });
  if (group) core.endGroup();
  await saveCaches(cacheDir, result, restored, containers);
  for (const w of result.warnings) core.warning(w);
  core.setOutput("run-id", result.runId);
  core.setOutput("status", result.status.state);
  core.setOutput("bundle", result.bundlePath);
  core.setOutput("manifest", result.manifestPath);
  core.setOutput("digest", result.digest);
  if (result.artifact) core.setOutput("artifact", result.artifact.reference);
  if (core.getInput("attest").trim().toLowerCase() !== "false") {
    const a = await attestRun(result, {
      token: core.getInput("github-token"),
      repository: process.env.GITHUB_REPOSITORY,
      serverUrl: process.env.GITHUB_SERVER_URL ?? "https://github.com",
    });
    if ("skipped" in a) core.info(`track-run: no attestation: ${a.skipped}`);
    else if (a.stored) {
      core.setOutput("attestation-id", String(a.id));
      core.setOutput("attestation-url", a.url);
      core.info(
        `track-run: attestation stored for ${plural(result.manifest.outputs.length, "output")}: ${a.url}`,
      );
    } else
      core.warning(
        `track-run: the record was not stored as a GitHub attestation: ${a.reason}. It stays in the ledger; \`track-run attest ${result.runId}\` stores it later`,
      );
  }
  await writeSummary(result);
  if (result.status.state !== "succeeded")
    core.setFailed(`run ${result.runId} ${result.status.state}: ${result.status.reason ?? ""}`);
}

run().catch(failStep);
