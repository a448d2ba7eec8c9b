// actions/reproduce: inputs -> core -> outputs, step summary, exit. Nothing else lives here.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import * as core from "@actions/core";
import { LedgerReader, openLedger } from "@track-run/core/ledger";
import { assertName } from "@track-run/core/names";
import { runnerFromEnvironment } from "@track-run/core/pin";
import { type ReproduceReport, reproduceRun, userOfThisProcess } from "@track-run/core/reproduce";
import { readJsonFile, readPolicyFile } from "@track-run/core/schema";
import { loadTrust } from "@track-run/core/sign";
import { failStep } from "../../fail.js";
import { defaultCacheDir, ledgerOptions } from "../../ledger.js";
import { flag, signingPlan } from "../../signing.js";

async function summary(r: ReproduceReport): Promise<void> {
  const icon = { bitwise: "✅", "within-tolerance": "☑️", diverged: "❌", "not-reproducible": "⛔" }[
    r.verdict
  ];
  const s = core.summary.addHeading(`${icon} ${r.original.model} run ${r.original.runId}: ${r.verdict}`, 3);
  if (r.reasons.length) s.addList(r.reasons);
  if (r.differences?.length)
    s.addHeading("Other differences (they do not decide the verdict)", 4).addList(r.differences);
  if (r.metrics.length) {
    s.addTable([
      [
        { data: "metric", header: true },
        { data: "original", header: true },
        { data: "reproduced", header: true },
        { data: "", header: true },
      ],
      ...r.metrics.map((m) => [
        `${m.stage ? `${m.stage}/` : ""}${m.name}`,
        String(m.original ?? "–"),
        String(m.reproduced ?? "–"),
        `${m.equal ? "equal" : m.within ? `within ${m.tolerance}` : "differs"}${m.gated ? "" : " (not gated)"}`,
      ]),
    ]);
  }
  if (r.environment.length) {
    s.addHeading("Environment differences", 4).addTable([
      [
        { data: "fact", header: true },
        { data: "original", header: true },
        { data: "reproduction", header: true },
      ],
      ...r.environment.map((d) => [d.fact, d.original, d.reproduced]),
    ]);
  }
  await s.write();
}

async function run(): Promise<void> {
  const input = core.getInput("run", { required: true });
  const ledger = core.getInput("ledger") || "dir:.track-run/ledger";
  const trust = loadTrust({ trust: core.getInput("trust"), trustedRoot: core.getInput("trusted-root") });
  // A bundle file as given, or a run of the ledger read through the verified reader.
  const { bundle, payloadManifests } = existsSync(input)
    ? { bundle: readJsonFile(input, "run"), payloadManifests: undefined }
    : await (await LedgerReader.open(openLedger(ledger, ledgerOptions()), trust)).forReproduction(
        assertName("run", input, "input run"),
      );
  const policy = readPolicyFile(core.getInput("policy"));
  const containers = await (await import("@track-run/core/docker"))
    .openDockerRuntime(process.env.DOCKER_HOST ? { host: process.env.DOCKER_HOST } : {})
    .catch(() => undefined);
  const report = await reproduceRun({
    bundle,
    ...(payloadManifests ? { payloadManifests } : {}),
    trust,
    allowUnsigned: flag("allow-unsigned"),
    repo: resolve("."),
    ...(policy ? { policy } : {}),
    signing: await signingPlan("the reproduction's record"),
    ledger,
    ...(containers ? { containers } : {}),
    cacheDir: defaultCacheDir(),
    ledgerOptions: ledgerOptions(),
    env: process.env,
    runner: runnerFromEnvironment(process.env),
    ...(process.env.GITHUB_ACTOR ? { actor: process.env.GITHUB_ACTOR } : {}),
    ...userOfThisProcess(),
    onStep: (m) => core.info(`track-run: ${m}`),
    onLine: (_s, l) => core.info(l),
  });
  for (const w of report.warnings) core.warning(w);
  core.setOutput("verdict", report.verdict);
  if (report.reproduction) core.setOutput("reproduction-run-id", report.reproduction.runId);
  await summary(report);
  if (report.verdict === "diverged" || report.verdict === "not-reproducible") {
    core.setFailed(
      `run ${report.original.runId}: ${report.verdict}${report.reasons.length ? `: ${report.reasons[0]}` : ""}`,
    );
  }
}

run().catch(failStep);
