import type { CodePin, EnvironmentPin } from "@track-run/core";
import { UsageError } from "@track-run/core/errors";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { progressReporter } from "../progress.js";
import { cacheDirFor } from "./bag.js";

export function registerPin(program: Command, run: CommandRunner): void {
  const pin = program
    .command("pin")
    .description("print what goes into the manifest: the data, code or environment pin");
  pin
    .command("data")
    .description(
      "pin a data folder or bag: its digest (sha256 of tagmanifest-sha256.txt), Payload-Oxum, files, bytes",
    )
    .argument("<PATH>", "a bag (folder or archive), or a plain folder pinned as its canonical bag")
    .option("--out <BAG>", "also write the canonical bag of a plain folder here")
    .option("--no-cache", "re-hash every file (by default unchanged files are known from a stat cache)")
    .addOption(jsonOption())
    .action((path: string, opts: { out?: string; cache: boolean; json?: boolean }) =>
      run(opts, async (out) => {
        const env = readEnvironment();
        const progress = progressReporter("hashing", { isTerminal: env.isTerminal && !opts.json });
        if (opts.out)
          (await import("@track-run/core/files")).checkOutputPath(opts.out, `--out "${opts.out}"`, {
            folder: true,
          });
        const { pinData } = await import("@track-run/core/bag");
        const r = await pinData(path, {
          ...(opts.cache ? { cacheDir: cacheDirFor() } : {}),
          ...(opts.out ? { out: opts.out } : {}),
          onProgress: progress.update,
        });
        progress.done();
        for (const w of r.warnings) out.warn(w);
        out.result(r, () =>
          [
            `digest       ${r.digest}`,
            ...(r.payloadIdentity
              ? [`payload      ${r.payloadIdentity} (the files alone, however packaged)`]
              : []),
            `payload-oxum ${r.payloadOxum}`,
            `files        ${r.files}`,
            `bytes        ${r.bytes}`,
            `source       ${r.source} ${r.path}`,
            `re-hashed    ${r.hashed} of ${r.files} files (the others were unchanged since the last pin)`,
          ]
            .concat(r.bag ? [`bag          ${r.bag}`] : [])
            .join("\n"),
        );
        return 0;
      }),
    );

  pin
    .command("code")
    .description(
      "pin the code: commit, tree, branch or detached ref, tags, author, remote (no credentials), submodules, dirty state",
    )
    .argument("[PATH]", "a folder inside the repository", ".")
    .option("--strict", "refuse a dirty tree (exit 1), listing the files")
    .option(
      "--allow-no-git",
      "outside a repository, pin the folder by content (a bag of it) instead of failing",
    )
    .addOption(jsonOption())
    .action((path: string, opts: { strict?: boolean; allowNoGit?: boolean; json?: boolean }) =>
      run(opts, async (out) => {
        const { pinCode } = await import("@track-run/core/pin");
        const pin = await pinCode(path, {
          strict: Boolean(opts.strict),
          allowNoGit: Boolean(opts.allowNoGit),
          cacheDir: cacheDirFor(),
        });
        out.result(pin, () => codeText(pin));
        return 0;
      }),
    );

  pin
    .command("env")
    .description(
      "pin the environment: image digest (or build from a Dockerfile), host, engine, GPUs, runner, lockfiles",
    )
    .option("--image <REF>", "resolve this image to its repository digest, pulling when needed")
    .option("--dockerfile <PATH>", "build this Dockerfile and record what it used")
    .option("--context <DIR>", "build context (default: the Dockerfile's folder)")
    .option("--build-arg <KEY=VALUE...>", "build argument, repeatable")
    .option("--push <REGISTRY/REPO[:TAG]>", "push the built image and record its repository digest")
    .option("--runtime <docker|host>", "docker (default) or host, for runners without Docker", "docker")
    .option("--strict", "refuse an image that has no repository digest (a mutable tag)")
    .option("--repo <DIR>", "repository searched for lockfiles", ".")
    .addOption(jsonOption())
    .action((opts: EnvOptions) => run(opts, (out) => pinEnvCommand(opts, out)));
}

interface EnvOptions {
  image?: string;
  dockerfile?: string;
  context?: string;
  buildArg?: string[];
  push?: string;
  runtime: string;
  strict?: boolean;
  repo: string;
  json?: boolean;
}

async function pinEnvCommand(opts: EnvOptions, out: Output): Promise<number> {
  if (opts.runtime !== "docker" && opts.runtime !== "host") {
    throw new UsageError("usage", `--runtime "${opts.runtime}" must be docker or host`);
  }
  if (opts.push && !opts.dockerfile) throw new UsageError("usage", "--push needs --dockerfile");
  const buildArgs: Record<string, string> = {};
  for (const kv of opts.buildArg ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError("usage", `--build-arg "${kv}" must be KEY=VALUE`);
    buildArgs[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const env = readEnvironment();
  const { pinEnvironment } = await import("@track-run/core/pin");
  // The engine is reached (or its absence named) before anything else runs.
  const containers =
    opts.runtime === "docker"
      ? await (await import("@track-run/core/docker")).openDockerRuntime(env.docker)
      : undefined;
  const build = opts.dockerfile
    ? {
        dockerfile: opts.dockerfile,
        buildArgs,
        ...(opts.context ? { context: opts.context } : {}),
        ...(opts.push ? { push: opts.push } : {}),
      }
    : undefined;
  const pin = await pinEnvironment({
    runtime: opts.runtime,
    ...(containers ? { containers } : {}),
    ...(opts.image ? { image: opts.image } : {}),
    ...(build ? { build } : {}),
    strict: Boolean(opts.strict),
    repo: opts.repo,
    runner: env.runner,
    ...(opts.json ? {} : { onLog: (line: string) => out.info(line) }),
  });
  if (pin.image && !pin.image.pullable) {
    out.warn(
      `image ${pin.image.reference} has no repository digest (built locally, never pushed): it cannot be pulled by digest`,
    );
  }
  out.result(pin, () => envText(pin));
  return 0;
}

function envText(pin: EnvironmentPin): string {
  const lines: string[] = [`runtime  ${pin.runtime}`];
  const i = pin.image;
  if (i) {
    lines.push(`image    ${i.reference}`);
    if (i.repoDigest) lines.push(`digest   ${i.repoDigest}`);
    lines.push(`id       ${i.id}`);
    if (i.dockerfileDigest) lines.push(`dockerfile sha256:${i.dockerfileDigest}`);
    for (const b of i.baseImages ?? []) lines.push(`from     ${b}`);
  }
  const h = pin.host;
  if (h) {
    const gib = Math.round((h.memoryBytes ?? 0) / 2 ** 30);
    lines.push(`host     ${h.os}, kernel ${h.kernel}, ${h.arch}, ${h.cpuCount} x ${h.cpuModel}, ${gib} GiB`);
    if (h.dockerVersion)
      lines.push(`engine   Docker ${h.dockerVersion}, runtimes ${h.dockerRuntimes?.join(", ")}`);
  }
  if (pin.gpus?.length) {
    for (const g of pin.gpus)
      lines.push(`gpu      ${g.name} ${g.uuid} driver ${g.driverVersion} CUDA ${g.cudaVersion ?? "?"}`);
  } else lines.push("gpus     none");
  const r = pin.runner;
  if (r) {
    const labels = r.labels ? ` [${r.labels.join(", ")}]` : "";
    lines.push(`runner   ${[r.name, r.os, r.arch, r.environment].filter(Boolean).join(", ")}${labels}`);
  }
  for (const l of pin.lockfiles ?? []) lines.push(`lockfile ${l.path} sha256:${l.sha256}`);
  for (const [k, v] of Object.entries(pin.interpreters ?? {})) lines.push(`${k.padEnd(8)} ${v}`);
  return lines.join("\n");
}

function codeText(pin: CodePin): string {
  if (pin.kind === "content")
    return `content  sha256:${pin.contentDigest} (not a git repository; pinned as a bag of the folder)`;
  const lines = [
    `commit   ${pin.commit}${pin.shallow ? " (shallow clone)" : ""}`,
    `tree     ${pin.tree}`,
    `ref      ${pin.detached ? "HEAD (detached)" : pin.ref}`,
  ];
  if (pin.tags?.length) lines.push(`tags     ${pin.tags.join(", ")}`);
  if (pin.author) lines.push(`author   ${pin.author}, ${pin.committedAt}`);
  if (pin.remote) lines.push(`remote   ${pin.remote}`);
  for (const s of pin.submodules ?? []) lines.push(`submodule ${s.path} ${s.commit}`);
  const d = pin.dirty;
  if (d) {
    lines.push(
      `dirty    ${d.modified.length} modified, ${d.added.length} added, ${d.deleted.length} deleted, ${d.untracked.length} untracked (diff sha256:${d.diffDigest})`,
    );
    for (const [k, files] of [
      ["M", d.modified],
      ["A", d.added],
      ["D", d.deleted],
      ["?", d.untracked],
    ] as const) {
      for (const f of files) lines.push(`  ${k} ${f}`);
    }
  } else lines.push("clean    yes");
  return lines.join("\n");
}
