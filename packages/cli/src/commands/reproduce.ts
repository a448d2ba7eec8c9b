import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError } from "@track-run/core/errors";
import { assertName, isName } from "@track-run/core/names";
import type { ReproduceReport } from "@track-run/core/reproduce";
import type { TrustSettings } from "@track-run/core/sign";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import { displaySafe, type Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { registryAccess } from "../registry.js";
import { gitLedgerOptions, readerFor, readJsonFile, readPolicy, readTrust } from "../trust.js";
import { cacheDirFor } from "./bag.js";
import { runDetails } from "./format.js";
import { localSigningPlan } from "./run.js";

interface ReproduceFlags {
  ledger?: string;
  repo: string;
  source?: string;
  policy?: string;
  trust?: string;
  trustedKey?: string[];
  trustedRoot?: string;
  allowUnsigned?: boolean;
  key?: string;
  keyless?: boolean;
  unsigned?: boolean;
  tsa?: string;
  rekor?: string;
  json?: boolean;
}

/**
 * RUN: a bundle file as given, or a run id of the ledger read through the verified reader (its
 * bundle, and the payload manifests checked against their signed digests).
 */
async function locateRun(
  run: string,
  ledgerUri: string,
  trust: TrustSettings & { trustedRoot?: unknown },
): Promise<{ bundle: unknown; payloadManifests?: Record<string, string> }> {
  if (existsSync(run) && !isName(run)) return { bundle: readJsonFile(run, "bundle") };
  return (await readerFor(ledgerUri, trust)).forReproduction(assertName("run", run, "reproduce RUN"));
}

function reportText(r: ReproduceReport): string {
  const lines = [`${r.original.model} run ${r.original.runId}: ${r.verdict.toUpperCase()}`];
  if (r.reproduction)
    lines.push(
      `reproduction ${r.reproduction.runId} (${r.reproduction.status}), recorded in ${r.reproduction.recordDir}`,
    );
  for (const x of r.reasons) lines.push(`  ${x}`);
  if (r.differences?.length) {
    lines.push("other differences (they do not decide the verdict):");
    for (const x of r.differences) lines.push(`  ${x}`);
  }
  if (r.metrics.length) {
    lines.push("metrics:");
    for (const m of r.metrics) {
      lines.push(
        `  ${`${m.stage ? `${m.stage}/` : ""}${m.name}`.padEnd(24)} ${String(m.original ?? "-").padEnd(12)} -> ${String(m.reproduced ?? "-").padEnd(12)} ${m.equal ? "equal" : m.within ? `within ${m.tolerance}` : "DIFFERS"}${m.gated ? "" : " (not gated)"}`,
      );
    }
  }
  if (r.outputs.length)
    lines.push(
      `outputs: ${r.outputs.filter((o) => o.equal).length} of ${r.outputs.length} bit-for-bit equal`,
    );
  if (r.environment.length) {
    lines.push("environment differences (what may explain a divergence):");
    for (const d of r.environment) lines.push(`  ${d.fact}: ${d.original} -> ${d.reproduced}`);
  }
  return lines.join("\n");
}

async function reproduceCommand(run: string, flags: ReproduceFlags, out: Output): Promise<number> {
  const env = readEnvironment();
  const ledger = flags.ledger ?? env.ledger;
  const trust = await readTrust({
    ...(flags.trustedKey ? { trustedKeys: flags.trustedKey } : {}),
    ...(flags.trust ? { trust: flags.trust } : {}),
    ...(flags.trustedRoot ? { trustedRoot: flags.trustedRoot } : {}),
  });
  const { bundle, payloadManifests } = await locateRun(run, ledger, trust);
  const policy = await readPolicy(flags.policy);
  // The engine when one answers; a run that needs one and finds none is reported as not reproducible.
  const containers = await (await import("@track-run/core/docker"))
    .openDockerRuntime(env.docker)
    .catch(() => undefined);
  const { reproduceRun, userOfThisProcess } = await import("@track-run/core/reproduce");
  const report = await reproduceRun({
    bundle,
    ...(payloadManifests ? { payloadManifests } : {}),
    trust,
    ...(flags.allowUnsigned ? { allowUnsigned: true } : {}),
    repo: resolve(flags.repo),
    ...(flags.source ? { source: flags.source } : {}),
    ...(policy ? { policy } : {}),
    signing: await localSigningPlan(flags, out),
    ledger,
    ...(containers ? { containers } : {}),
    cacheDir: cacheDirFor(),
    ledgerOptions: gitLedgerOptions(),
    env: process.env,
    runner: env.runner,
    ...userOfThisProcess(),
    onStep: (m) => out.info(`track-run: ${m}`),
    onLine: (_s, l) => out.info(l),
    // Data that was a recorded run's outputs, not here: pulled from that run's OCI artifact, checked.
    runOutputs: async (id) =>
      (await import("@track-run/core/run")).findOrPullRunOutputs(
        await readerFor(ledger, trust),
        id,
        resolve(flags.repo, ".track-run", "work"),
        (m) => out.info(`track-run: ${m}`),
        await registryAccess(out),
      ),
  });
  for (const w of report.warnings) out.warn(w);
  out.result(report, () => reportText(report));
  return report.verdict === "bitwise" || report.verdict === "within-tolerance" ? 0 : 1;
}

export function registerReproduce(program: Command, run: CommandRunner): void {
  program
    .command("reproduce")
    .description(
      "re-run a recorded run from its pins and give a verdict: bitwise, within-tolerance, diverged or not-reproducible",
    )
    .argument("<RUN>", "a run id in the ledger, or a bundle file")
    .option(
      "--ledger <URI>",
      "where runs are recorded (default dir:.track-run/ledger); the reproduction is recorded there too",
    )
    .option("--repo <DIR>", "repository holding (or able to fetch) the recorded commit", ".")
    .option("--source <DIR>", "for a run pinned by content: its source folder")
    .option("--policy <FILE>", "tolerances per metric (default .track-run/policy.yml when present)")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json when present)")
    .option("--trusted-key <PUB...>", "a public key trusted to have signed the original, repeatable")
    .option("--trusted-root <FILE>", "Sigstore trusted root for keyless records")
    .option("--allow-unsigned", "reproduce an unsigned record")
    .option("--key <FILE>", "sign the reproduction's record with this key")
    .option("--keyless", "sign the reproduction's record with Sigstore")
    .option("--unsigned", "do not sign the reproduction's record")
    .option(
      "--tsa <URL>",
      "RFC 3161 timestamp authority for a key-signed record (default: $TRACK_RUN_TSA_URL)",
    )
    .option("--rekor <URL>", "Rekor to log a key-signed record in (default: $TRACK_RUN_REKOR_URL)")
    .addOption(jsonOption())
    .action((runArg: string, flags: ReproduceFlags) =>
      run(flags, (out) => reproduceCommand(runArg, flags, out)),
    );

  program
    .command("show")
    .description(
      "show a recorded run, verified: its pins, metrics, status, its trust, and its reproductions with their verdicts",
    )
    .argument("<RUN>", "a run id in the ledger")
    .option("--ledger <URI>", "where runs are recorded (default dir:.track-run/ledger; git:https://…#BRANCH)")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json when present)")
    .option("--trusted-key <PUB...>", "a public key trusted to sign runs, repeatable")
    .option("--trusted-root <FILE>", "Sigstore trusted root for keyless records")
    .addOption(jsonOption())
    .action(
      (
        runArg: string,
        flags: {
          ledger?: string;
          trust?: string;
          trustedKey?: string[];
          trustedRoot?: string;
          json?: boolean;
        },
      ) => run(flags, (out) => showCommand(runArg, flags, out)),
    );
}

async function showCommand(
  runArg: string,
  flags: { ledger?: string; trust?: string; trustedKey?: string[]; trustedRoot?: string },
  out: Output,
): Promise<number> {
  const trust = await readTrust({
    ...(flags.trustedKey ? { trustedKeys: flags.trustedKey } : {}),
    ...(flags.trust ? { trust: flags.trust } : {}),
    ...(flags.trustedRoot ? { trustedRoot: flags.trustedRoot } : {}),
  });
  const reader = await readerFor(flags.ledger ?? readEnvironment().ledger, trust);
  const record = await reader.find(assertName("run", runArg, "show RUN"));
  if (!record)
    throw new UsageError("no-such-run", `run ${runArg} is not in ${reader.uri}; see \`track-run log\``);
  const manifest = record.manifest;
  if (!manifest) {
    out.result(
      { runId: record.runId, trust: record.trust, problems: record.problems, record: record.where },
      () =>
        [`run      ${record.runId}: DAMAGED (${record.where})`, ...record.problems.map((p) => `  ${p}`)].join(
          "\n",
        ),
    );
    return 1;
  }
  const reproductions = await reader.reproductionsOf(record);
  const { describeMarks } = await import("@track-run/core/ledger");
  const invalidations = await reader.invalidations();
  const invalidated = describeMarks(invalidations.marks.get(`run:${record.runId}`));
  // A run that did not succeed says why at the end of its log.
  const log =
    manifest.status.state === "succeeded"
      ? undefined
      : (await reader.snapshot.readRunFile(record.runId, "log.txt").catch(() => undefined))?.toString("utf8");
  const mark =
    record.trust === "verified"
      ? `verified, signed by ${record.signer ?? "a trusted signer"}`
      : record.trust.toUpperCase();
  out.result(
    {
      manifest,
      trust: record.trust,
      problems: record.problems,
      reproductions,
      invalidated,
      record: record.where,
    },
    () => {
      // What the record says, with every control character escaped: one field is never a line of its own.
      const manifest = displaySafe(record.manifest!);
      return [
        `run      ${manifest.runId} of ${manifest.model}: ${manifest.status.state}${manifest.status.reason ? ` (${manifest.status.reason})` : ""}`,
        `record   ${mark}${record.trust === "verified" ? "" : ": shown, but it counts for no gate"}`,
        ...record.problems.map((p) => `  ${p}`),
        ...invalidated.map((i) => `INVALIDATED derived from ${i}`),
        ...runDetails(manifest, log),
        ...(manifest.links?.reproductionOf ? [`reproduces ${manifest.links.reproductionOf}`] : []),
        reproductions.length ? `reproduced ${reproductions.length} time(s):` : "not reproduced yet",
        ...reproductions.map(
          (r) =>
            `  ${r.runId}: ${r.verdict ?? "no verdict"}${r.counts ? "" : ` [${r.trust.toUpperCase()}: does not count]`}`,
        ),
        `where    ${record.where}`,
      ].join("\n");
    },
  );
  return record.trust === "damaged" ? 1 : 0;
}
