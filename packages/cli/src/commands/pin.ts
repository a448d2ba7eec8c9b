import { pinData } from "@track-run/core";
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
}
