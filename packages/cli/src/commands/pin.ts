import type { CodePin } from "@track-run/core";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
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
