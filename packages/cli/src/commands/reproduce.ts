import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { RunManifest } from "@track-run/core";
import { UsageError } from "@track-run/core/errors";
import type { ReproduceReport } from "@track-run/core/reproduce";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { gitLedgerOptions, readJsonFile, readPolicy, readTrust } from "../trust.js";
import { cacheDirFor } from "./bag.js";
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
  json?: boolean;
}

/** RUN: a bundle file, or a run id in the ledger. */
export function locateRun(run: string, ledgerUri: string): { bundlePath: string; recordDir?: string } {
  if (existsSync(run) && !run.startsWith("dir:")) return { bundlePath: run };
  if (!ledgerUri.startsWith("dir:"))
    throw new UsageError("bad-ledger", `ledger "${ledgerUri}" is not a dir: ledger`);
  const dir = join(ledgerUri.slice(4), "runs", run);
  for (const name of ["bundle.sigstore.json", "record.unsigned.json"]) {
    if (existsSync(join(dir, name))) return { bundlePath: join(dir, name), recordDir: dir };
  }
  throw new UsageError(
    "no-such-run",
    `"${run}" is neither a bundle file nor a run in ${ledgerUri}; see \`track-run show\` or give the bundle's path`,
  );
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
  const { bundlePath, recordDir } = locateRun(run, ledger);
  const bundle = readJsonFile(bundlePath, "bundle");
  const trust = await readTrust({
    ...(flags.trustedKey ? { trustedKeys: flags.trustedKey } : {}),
    ...(flags.trust ? { trust: flags.trust } : {}),
    ...(flags.trustedRoot ? { trustedRoot: flags.trustedRoot } : {}),
  });
  const policy = await readPolicy(flags.policy);
  // The engine when one answers; a run that needs one and finds none is reported as not reproducible.
  const containers = await (await import("@track-run/core/docker"))
    .openDockerRuntime(env.docker)
    .catch(() => undefined);
  const { reproduceRun, userOfThisProcess } = await import("@track-run/core/reproduce");
  const report = await reproduceRun({
    bundle,
    ...(recordDir ? { recordDir } : {}),
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
    .addOption(jsonOption())
    .action((runArg: string, flags: ReproduceFlags) =>
      run(flags, (out) => reproduceCommand(runArg, flags, out)),
    );

  program
    .command("show")
    .description("show a recorded run: its pins, metrics, status, and its reproductions with their verdicts")
    .argument("<RUN>", "a run id in the ledger")
    .option("--ledger <URI>", "where runs are recorded (default dir:.track-run/ledger)")
    .addOption(jsonOption())
    .action((runArg: string, flags: { ledger?: string; json?: boolean }) =>
      run(flags, async (out) => {
        const ledger = flags.ledger ?? readEnvironment().ledger;
        const { recordDir } = locateRun(runArg, ledger);
        if (!recordDir) throw new UsageError("usage", "show takes a run id of the ledger");
        const manifest = JSON.parse(readFileSync(join(recordDir, "manifest.json"), "utf8")) as RunManifest;
        const { reproductionsOf } = await import("@track-run/core/reproduce");
        const reproductions = await reproductionsOf(ledger, manifest.runId);
        out.result({ manifest, reproductions, record: recordDir }, () =>
          [
            `run      ${manifest.runId} of ${manifest.model}: ${manifest.status.state}${manifest.status.reason ? ` (${manifest.status.reason})` : ""}`,
            `code     ${manifest.code.commit ?? `content ${manifest.code.contentDigest}`}`,
            ...manifest.data.map((d) => `data     ${d.name} ${d.digest}`),
            `image    ${manifest.environment.image?.repoDigest ?? manifest.environment.image?.id ?? "host"}`,
            ...manifest.metrics.final.map(
              (m) => `metric   ${m.stage ? `${m.stage}/` : ""}${m.name} = ${m.value}`,
            ),
            ...(manifest.links?.reproductionOf ? [`reproduces ${manifest.links.reproductionOf}`] : []),
            reproductions.length ? `reproduced ${reproductions.length} time(s):` : "not reproduced yet",
            ...reproductions.map((r) => `  ${r.runId}: ${r.verdict ?? "no verdict"}`),
            `record   ${dirname(join(recordDir, "x"))}`,
          ].join("\n"),
        );
        return 0;
      }),
    );
}
