import { existsSync } from "node:fs";
import type { Config } from "@track-run/core";
import { UsageError } from "@track-run/core/errors";
import type { RunOptions, TrackResult, TrackSpec } from "@track-run/core/run";
import type { SigningPlan } from "@track-run/core/sign";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { registryAccess } from "../registry.js";
import { gitLedgerOptions, readTrust } from "../trust.js";
import { cacheDirFor } from "./bag.js";

export const DEFAULT_KEY = ".track-run/keys/signing";

/** How long a stopped run may take to record itself as cancelled before the process exits anyway. */
const STOP_GRACE_MS = 1500;

/** The command line: core's run options, plus where the config is, how to sign, and --json. */
interface RunFlags extends RunOptions {
  config?: string;
  key?: string;
  keyless?: boolean;
  unsigned?: boolean;
  tsa?: string;
  rekor?: string;
  json?: boolean;
  trust?: string;
  trustedKey?: string[];
}

type SigningFlags = { key?: string; keyless?: boolean; unsigned?: boolean; tsa?: string; rekor?: string };

/**
 * The signing plan: --unsigned, --keyless (with a key as fallback when one is configured), a key, or the local default key, made on first use.
 * A key-signed record is timestamped by --tsa (or `tsa:`, or $TRACK_RUN_TSA_URL) and logged in the Rekor of --rekor (or
 * `rekor:`, or $TRACK_RUN_REKOR_URL); when either fails the warning is printed here.
 */
export async function localSigningPlan(
  flags: SigningFlags,
  out: Output,
  cfg: Config = {},
): Promise<SigningPlan> {
  const plan = await signingPlan(flags, cfg, out);
  if (plan.tsa) plan.tsa.onWarning = (m) => out.warn(m);
  if (plan.rekor) plan.rekor.onWarning = (m) => out.warn(m);
  return plan;
}

/** The timestamp authority of --tsa, `tsa:` in the config, or $TRACK_RUN_TSA_URL, checked to be an http(s) URL. */
export function timestampAuthority(flag: string | undefined, cfg: Config = {}): { url: string } | undefined {
  return serviceUrl(
    "tsa",
    "TRACK_RUN_TSA_URL",
    flag,
    cfg.tsa,
    "timestamp authority",
    "https://timestamp.sigstore.dev",
  );
}

/** The Rekor of --rekor, `rekor:` in the config, or $TRACK_RUN_REKOR_URL, checked to be an http(s) URL. */
export function transparencyLog(flag: string | undefined, cfg: Config = {}): { url: string } | undefined {
  return serviceUrl("rekor", "TRACK_RUN_REKOR_URL", flag, cfg.rekor, "Rekor", "https://rekor.sigstore.dev");
}

function serviceUrl(
  name: "tsa" | "rekor",
  envName: string,
  flag: string | undefined,
  configured: string | undefined,
  what: string,
  example: string,
): { url: string } | undefined {
  const env = process.env[envName];
  const [url, source] =
    flag !== undefined
      ? [flag, `--${name} "${flag}"`]
      : configured !== undefined
        ? [configured, `${name}: "${configured}" in the config`]
        : [env, `${envName} "${env}"`];
  if (!url) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.username || parsed.password)
    throw new UsageError(
      `bad-${name}`,
      `${source} is not a ${what} URL: give http(s)://HOST[/PATH] without credentials, e.g. ${example}`,
    );
  return { url };
}

async function signingPlan(flags: SigningFlags, cfg: Config, out: Output): Promise<SigningPlan> {
  const s = await import("@track-run/core/sign");
  const signing = cfg.signing as { key?: string; keyless?: true; unsigned?: true } | undefined;
  if (flags.unsigned || (signing?.unsigned && !flags.key && !flags.keyless)) return { unsigned: true };
  const keyless = flags.keyless || (signing?.keyless && !flags.key);
  const plan: SigningPlan = {};
  if (keyless) {
    const { keylessOptions } = await import("./sign.js");
    plan.keyless = await keylessOptions({});
  }
  const keyPath = flags.key ?? signing?.key ?? process.env.TRACK_RUN_KEY;
  if (keyPath) plan.key = s.readPrivateKey(keyPath);
  else if (process.env.TRACK_RUN_SIGNING_KEY)
    plan.key = s.parsePrivateKey(process.env.TRACK_RUN_SIGNING_KEY, "TRACK_RUN_SIGNING_KEY");
  else if (!keyless) {
    if (!existsSync(`${DEFAULT_KEY}.key`)) {
      // .track-run/.gitignore first, so that `git add -A` never stages the private key.
      const { protectTrackRunFolder } = await import("@track-run/core/run");
      protectTrackRunFolder(".track-run");
      const k = s.generateKeys(DEFAULT_KEY);
      const trust = ".track-run/trust.json";
      if (!existsSync(trust)) {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(
          trust,
          `${JSON.stringify({ keys: [{ name: "local key", path: "keys/signing.pub", keyId: k.keyId }] }, null, 2)}\n`,
        );
      }
      out.info(
        `track-run: made a signing key at ${DEFAULT_KEY}.key (key id ${k.keyId}) and trusted it in ${trust}`,
      );
    }
    plan.key = s.readPrivateKey(`${DEFAULT_KEY}.key`);
  }
  if (plan.key) {
    const tsa = timestampAuthority(flags.tsa, cfg);
    if (tsa) plan.tsa = tsa;
    const rekor = transparencyLog(flags.rekor, cfg);
    if (rekor) plan.rekor = rekor;
  }
  return plan;
}

export async function buildSpec(flags: RunFlags, command: string[], out: Output): Promise<TrackSpec> {
  const { readRunConfig, resolveRunSpec } = await import("@track-run/core/run");
  const { config, baseDir } = readRunConfig(flags.config ?? "track-run.yml", flags.config !== undefined);
  const spec = resolveRunSpec(flags, command, config, baseDir, { ledger: readEnvironment().ledger });
  return { ...spec, signing: await signingPlan(flags, config, out) };
}

function summary(r: TrackResult): string {
  const m = r.manifest;
  const lines = [
    `run      ${r.runId}: ${r.status.state}${r.status.reason ? ` (${r.status.reason})` : ""}`,
    `model    ${m.model}`,
    `code     ${m.code.kind === "git" ? `${m.code.commit}${m.code.dirty ? " (dirty)" : ""}` : `content sha256:${m.code.contentDigest}`}`,
    ...m.data.map(
      (d) =>
        `data     ${d.name} ${d.digest} (${d.files} files, ${d.bytes} bytes)${d.payloadIdentity ? ` payload ${d.payloadIdentity}` : ""}${d.fromRun ? ` from run ${d.fromRun.runId}${d.fromRun.path ? `/${d.fromRun.path}` : ""}` : ""}`,
    ),
    ...Object.entries(m.labels ?? {}).map(([k, v]) => `label    ${k}=${v}`),
    `env      ${m.environment.image ? `${m.environment.image.repoDigest ?? m.environment.image.id}` : "host"}`,
    ...m.metrics.final.map((x) => `metric   ${x.stage ? `${x.stage}/` : ""}${x.name} = ${x.value}`),
    ...m.outputs.map((o) => `output   ${o.path} sha256:${o.sha256}`),
    `time     ${m.timing.wallSeconds?.toFixed(1)} s${m.timing.peakMemoryBytes ? `, peak memory ${(m.timing.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB` : ""}`,
    `signed   ${r.signing}`,
    `record   ${r.recordDir}`,
    ...(r.artifact ? [`artifact ${r.artifact.reference}`] : []),
  ];
  return lines.join("\n");
}

export function registerRun(program: Command, run: CommandRunner): void {
  program
    .command("run")
    .description(
      "track a training run: pin code, data and image, run the command, capture metrics and outputs, sign, record",
    )
    .argument("[COMMAND...]", "the training command, after -- (or `command:` in track-run.yml)")
    .option("--config <FILE>", "run configuration (default ./track-run.yml when present)")
    .option("--model <NAME>", "model this run trains")
    .option("--image <REF>", "image to run in (pinned by digest)")
    .option("--dockerfile <PATH>", "build the image from this Dockerfile")
    .option("--context <DIR>", "build context for --dockerfile")
    .option(
      "--data <NAME=PATH...>",
      "a data folder or bag, or run:RUN[/PATH] (a recorded run's outputs, checked against its signed digests), mounted read-only at /data/NAME; repeatable",
    )
    .option(
      "--label <KEY=VALUE...>",
      "a label of the run (overrides track-run.yml and the command's); repeatable",
    )
    .option(
      "--outputs <DIR>",
      "where outputs are written (new or empty; default .track-run/work/RUN/outputs)",
    )
    .option(
      "--metrics <FILE>",
      "the final metrics JSON the command writes, relative to the outputs folder ($TRACK_RUN_METRICS points at it)",
    )
    .option(
      "--params <FILE>",
      "parameters (JSON or YAML), recorded and given to the command as $TRACK_RUN_PARAMS",
    )
    .option("--gpus <none|all|N|IDS>", "GPUs for the container (Docker DeviceRequests)")
    .option("--runtime <docker|host>", "run in the pinned image (docker, default) or on the host")
    .option("--network <bridge|none>", "container network")
    .option("--env <NAME...>", "environment variable passed through (allow-list); repeatable")
    .option("--seed <N>", "seed, given as $TRACK_RUN_SEED and PYTHONHASHSEED")
    .option("--timeout <SECONDS>", "kill the run after this long (status failed: timeout)")
    .option("--memory <SIZE>", "container memory limit, e.g. 4g (an out-of-memory kill is recorded as such)")
    .option("--ledger <URI>", "where the record goes (default dir:.track-run/ledger)")
    .option(
      "--artifacts <oci://REGISTRY/REPO>",
      "push the run's signed outputs there as one OCI artifact, the signed bundle attached (credentials: TRACK_RUN_REGISTRY_USER/PASSWORD or ~/.docker/config.json)",
    )
    .option("--key <FILE>", "sign with this private key")
    .option("--keyless", "sign with Sigstore (needs id-token: write in GitHub Actions)")
    .option("--unsigned", "do not sign; the record says so")
    .option(
      "--tsa <URL>",
      "RFC 3161 timestamp authority for a key-signed record (default: tsa: in the config, then $TRACK_RUN_TSA_URL)",
    )
    .option(
      "--rekor <URL>",
      "Rekor to log a key-signed record in (default: rekor: in the config, then $TRACK_RUN_REKOR_URL)",
    )
    .option("--trust <FILE>", "trust file for runs read as data (default .track-run/trust.json when present)")
    .option("--trusted-key <PUB...>", "a public key trusted to have signed runs read as data, repeatable")
    .option("--strict", "refuse a dirty tree and an image without a repository digest")
    .option("--allow-no-git", "outside git, pin the source folder by content")
    .addOption(jsonOption())
    .action((command: string[], flags: RunFlags) =>
      run(flags, async (out) => {
        if ([flags.key, flags.keyless, flags.unsigned].filter(Boolean).length > 1) {
          throw new UsageError("usage", "choose one of --key, --keyless and --unsigned");
        }
        const spec = await buildSpec(flags, command, out);
        const env = readEnvironment();
        const containers =
          spec.runtime === "docker"
            ? await (await import("@track-run/core/docker")).openDockerRuntime(env.docker)
            : undefined;
        const { trackRun, userOfThisProcess } = await import("@track-run/core/run");
        const trust = spec.data.length
          ? await readTrust({
              ...(flags.trust ? { trust: flags.trust } : {}),
              ...(flags.trustedKey ? { trustedKeys: flags.trustedKey } : {}),
            })
          : undefined;
        const controller = new AbortController();
        const onSignal = (sig: NodeJS.Signals) => {
          out.info(`track-run: ${sig} received, stopping the run and recording it as cancelled`);
          controller.abort(sig);
          // The run is given a moment to stop and be recorded as cancelled; then the process ends (128 + 15).
          setTimeout(() => process.exit(sig === "SIGINT" ? 130 : 143), STOP_GRACE_MS).unref();
        };
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        try {
          const result = await trackRun(spec, {
            env: process.env,
            runner: env.runner,
            ...(process.env.GITHUB_ACTOR
              ? { actor: process.env.GITHUB_ACTOR }
              : process.env.USER
                ? { actor: process.env.USER }
                : {}),
            ...(containers ? { containers } : {}),
            cacheDir: cacheDirFor(),
            ledgerOptions: gitLedgerOptions(),
            ...(trust ? { trust } : {}),
            ...(spec.artifacts || spec.data.some((d) => d.fromRun)
              ? { registry: await registryAccess(out) }
              : {}),
            ...userOfThisProcess(),
            signal: controller.signal,
            onLine: (_stream, line) => out.info(line),
            onStep: (m) => out.info(`track-run: ${m}`),
          });
          for (const w of result.warnings) out.warn(w);
          out.result(
            {
              runId: result.runId,
              status: result.status.state,
              reason: result.status.reason,
              bundle: result.bundlePath,
              manifest: result.manifestPath,
              digest: result.digest,
              signing: result.signing,
              record: result.recordDir,
              ...(result.artifact ? { artifact: result.artifact.reference } : {}),
            },
            () => summary(result),
          );
          return result.status.state === "succeeded" ? 0 : 1;
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        }
      }),
    );
}
