// actions/reproduce: inputs -> core -> outputs, step summary, exit. Nothing else lives here.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import * as core from "@actions/core";
import type { Policy } from "@track-run/core";
import { isTrackRunError, UsageError } from "@track-run/core/errors";
import { loadCommonJs } from "@track-run/core/interop";
import { runnerFromEnvironment } from "@track-run/core/pin";
import { type ReproduceReport, reproduceRun } from "@track-run/core/reproduce";
import { validateDocument } from "@track-run/core/schema";
import { parsePrivateKey, readTrustFile, type SigningPlan } from "@track-run/core/sign";
import { parse as parseYaml } from "yaml";

const flag = (name: string) => core.getInput(name).trim().toLowerCase() === "true";

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new UsageError("input-missing", `${what} "${path}" does not exist`);
  return JSON.parse(readFileSync(path, "utf8"));
}

async function signingPlan(): Promise<SigningPlan> {
  if (flag("unsigned")) return { unsigned: true };
  const plan: SigningPlan = {};
  const pem = core.getInput("signing-key");
  if (pem) {
    for (const line of pem.split(/\r?\n/))
      if (line.trim() && !line.startsWith("-----")) core.setSecret(line.trim());
    plan.key = parsePrivateKey(pem, "input signing-key");
  }
  if (flag("keyless")) {
    const { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL } = await loadCommonJs(() => import("sigstore"));
    plan.keyless = {
      fulcioURL: process.env.TRACK_RUN_FULCIO_URL ?? DEFAULT_FULCIO_URL,
      rekorURL: process.env.TRACK_RUN_REKOR_URL ?? DEFAULT_REKOR_URL,
      getToken: () => core.getIDToken("sigstore"),
    };
  }
  if (!plan.key && !plan.keyless) {
    throw new UsageError(
      "no-signing",
      "no way to sign the reproduction's record: pass signing-key, keyless: true, or unsigned: true",
    );
  }
  return plan;
}

async function summary(r: ReproduceReport): Promise<void> {
  const icon = { bitwise: "✅", "within-tolerance": "☑️", diverged: "❌", "not-reproducible": "⛔" }[
    r.verdict
  ];
  const s = core.summary.addHeading(`${icon} ${r.original.model} run ${r.original.runId}: ${r.verdict}`, 3);
  if (r.reasons.length) s.addList(r.reasons);
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
        m.equal ? "equal" : m.within ? `within ${m.tolerance}` : "differs",
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
  let bundlePath = input;
  let recordDir: string | undefined;
  if (!existsSync(input) && ledger.startsWith("dir:")) {
    recordDir = join(ledger.slice(4), "runs", input);
    bundlePath =
      ["bundle.sigstore.json", "record.unsigned.json"]
        .map((n) => join(recordDir!, n))
        .find((p) => existsSync(p)) ?? input;
  }
  const bundle = readJson(bundlePath, "run");
  const trustFile = core.getInput("trust") || ".track-run/trust.json";
  const trust =
    core.getInput("trust") || existsSync(trustFile) ? readTrustFile(trustFile) : { keys: [], identities: [] };
  const trustedRoot = core.getInput("trusted-root")
    ? readJson(core.getInput("trusted-root"), "trusted-root")
    : undefined;
  const policyFile = core.getInput("policy") || ".track-run/policy.yml";
  const policy = existsSync(policyFile)
    ? (validateDocument("policy", parseYaml(readFileSync(policyFile, "utf8")), policyFile) as Policy)
    : undefined;
  const containers = await (await import("@track-run/core/docker"))
    .openDockerRuntime(process.env.DOCKER_HOST ? { host: process.env.DOCKER_HOST } : {})
    .catch(() => undefined);
  const report = await reproduceRun({
    bundle,
    ...(recordDir ? { recordDir } : {}),
    trust: { ...trust, ...(trustedRoot ? { trustedRoot } : {}) },
    allowUnsigned: flag("allow-unsigned"),
    repo: resolve("."),
    ...(policy ? { policy } : {}),
    signing: await signingPlan(),
    ledger,
    ...(containers ? { containers } : {}),
    cacheDir: process.env.TRACK_RUN_CACHE ?? join(homedir(), ".cache", "track-run"),
    env: process.env,
    runner: runnerFromEnvironment(process.env),
    ...(process.env.GITHUB_ACTOR ? { actor: process.env.GITHUB_ACTOR } : {}),
    ...(typeof process.getuid === "function"
      ? { user: `${process.getuid()}:${process.getgid?.() ?? 0}` }
      : {}),
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

run().catch((e: unknown) => {
  core.setFailed(
    isTrackRunError(e)
      ? [e.message, ...e.details].join("\n")
      : e instanceof Error
        ? (e.stack ?? e.message)
        : String(e),
  );
});
