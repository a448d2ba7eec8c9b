import { homedir } from "node:os";
import { join } from "node:path";
import type { Algorithm, BagInfo, BagReport } from "@track-run/core/bag";
import { UsageError } from "@track-run/core/errors";
import { checkOutputPath, readInputText } from "@track-run/core/files";
import { type Command, Option } from "commander";
import { readEnvironment } from "../context.js";
import { type CommandRunner, jsonOption, VERSION } from "../program.js";
import { progressReporter } from "../progress.js";

export const SOFTWARE_AGENT = `track-run ${VERSION}`;

/** The bag engine, loaded when a bag command runs (start-up stays small for the others). */
const engine = () => import("@track-run/core/bag");

function parseAlgorithms(value: string, isAlgorithm: (s: string) => s is Algorithm): Algorithm[] {
  const algs = value
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const bad = algs.filter((a) => !isAlgorithm(a));
  if (bad.length || algs.length === 0) {
    throw new UsageError(
      "bad-algorithm",
      `--alg "${value}": use a comma-separated list of sha256, sha512, sha384, sha224, sha1, md5`,
    );
  }
  return algs as Algorithm[];
}

function parseInfo(values: string[] | undefined): BagInfo {
  return (values ?? []).map((kv) => {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError("bad-info", `--info "${kv}" must be KEY=VALUE`);
    const key = kv.slice(0, i).trim();
    if (!/^[^:\s][^:]*$/.test(key))
      throw new UsageError("bad-info", `--info "${kv}": the label cannot contain ":" or start with a space`);
    return [key, kv.slice(i + 1).replace(/[\r\n]+/g, " ")] as [string, string];
  });
}

export function cacheDirFor(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRACK_RUN_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "track-run");
}

function reportText(bag: string, r: BagReport): string {
  const lines: string[] = [];
  if (r.valid) {
    const what =
      r.mode === "full"
        ? "valid"
        : r.mode === "fast"
          ? "valid (fast: Payload-Oxum only)"
          : "complete (checksums not read)";
    lines.push(
      `${bag}: ${what}, BagIt ${r.version}, ${r.files} files, ${r.bytes} bytes, ${r.algorithms.join(", ")}`,
    );
    if (r.digest) lines.push(`digest ${r.digest}`);
  } else {
    lines.push(`${bag}: INVALID (${r.errors.length} problem${r.errors.length === 1 ? "" : "s"})`);
    for (const e of r.errors) {
      lines.push(
        `  ${e.file ? `${e.file}: ` : ""}${e.message}${e.expected !== undefined ? `\n      expected ${e.expected}\n      actual   ${e.actual}` : ""}`,
      );
    }
  }
  return lines.join("\n");
}

const infoOption = () => new Option("--info <KEY=VALUE...>", "bag-info.txt metadata, repeatable, order kept");

export function registerBag(program: Command, run: CommandRunner): void {
  const bag = program
    .command("bag")
    .description("BagIt bags (RFC 8493): create, validate, serialize, fetch, diff");

  bag
    .command("create")
    .description("bag the folder SRC; out of place (--out) by default, the source untouched")
    .argument("<SRC>", "folder to bag")
    .option("--out <BAG>", "new folder for the bag")
    .option("--in-place", "turn SRC itself into a bag (its content moves under data/)")
    .option("--alg <LIST>", "checksum algorithms, comma-separated, computed in one read", "sha256")
    .addOption(infoOption())
    .option("--follow-symlinks", "bag the targets of symbolic links instead of refusing them")
    .addOption(jsonOption())
    .action(
      (
        src: string,
        opts: {
          out?: string;
          inPlace?: boolean;
          alg: string;
          info?: string[];
          followSymlinks?: boolean;
          json?: boolean;
        },
      ) =>
        run(opts, async (out) => {
          if (Boolean(opts.out) === Boolean(opts.inPlace))
            throw new UsageError("usage", "bag create needs exactly one of --out BAG or --in-place");
          if (opts.out) checkOutputPath(opts.out, `--out "${opts.out}"`, { folder: true });
          const env = readEnvironment();
          const progress = progressReporter("hashing", { isTerminal: env.isTerminal && !opts.json });
          const common = {
            algorithms: parseAlgorithms(opts.alg, (await engine()).isAlgorithm),
            info: parseInfo(opts.info),
            followSymlinks: Boolean(opts.followSymlinks),
            softwareAgent: SOFTWARE_AGENT,
            onProgress: progress.update,
          };
          const summary = opts.inPlace
            ? await (await engine()).createBagInPlace(src, common)
            : await (await engine()).createBag(src, opts.out!, common);
          progress.done();
          for (const w of summary.warnings) out.warn(w);
          out.result(summary, () =>
            [
              `bagged ${summary.files} files, ${summary.bytes} bytes into ${summary.path}`,
              summary.digest ? `digest ${summary.digest}` : "",
              summary.payloadIdentity ? `payload ${summary.payloadIdentity}` : "",
            ]
              .filter(Boolean)
              .join("\n"),
          );
          return 0;
        }),
    );

  bag
    .command("validate")
    .description("validate a bag folder, .tar or .tar.gz (read as a stream); exit 1 when invalid")
    .argument("<BAG>", "bag folder or archive")
    .option("--fast", "check completeness and Payload-Oxum only, not checksums")
    .option("--completeness-only", "check that every file is listed and present, not checksums")
    .addOption(jsonOption())
    .action((path: string, opts: { fast?: boolean; completenessOnly?: boolean; json?: boolean }) =>
      run(opts, async (out) => {
        if (opts.fast && opts.completenessOnly)
          throw new UsageError("usage", "choose one of --fast and --completeness-only");
        const env = readEnvironment();
        const progress = progressReporter("validating", { isTerminal: env.isTerminal && !opts.json });
        const report = await (await engine()).validateBag(path, {
          mode: opts.fast ? "fast" : opts.completenessOnly ? "completeness" : "full",
          onProgress: progress.update,
        });
        progress.done();
        for (const w of report.warnings) out.warn(w);
        out.result(report, () => reportText(path, report));
        return report.valid ? 0 : 1;
      }),
    );

  bag
    .command("tar")
    .description("serialize a bag to OUT.tar or OUT.tar.gz: same bag, same bytes")
    .argument("<BAG>", "bag folder")
    .argument("<OUT>", "archive path ending in .tar, .tar.gz or .tgz; its name is the top-level folder")
    .addOption(jsonOption())
    .action((path: string, dest: string, opts: { json?: boolean }) =>
      run(opts, async (out) => {
        checkOutputPath(dest, `OUT "${dest}"`);
        const r = await (await engine()).tarBag(path, dest);
        out.result(
          r,
          () =>
            `wrote ${r.path} (${r.entries} entries, ${r.bytes} payload and tag bytes, top folder ${r.top}/)`,
        );
        return 0;
      }),
    );

  bag
    .command("diff")
    .description("payload files added, removed and changed between bags A and B, from their manifests")
    .argument("<A>", "bag folder or archive")
    .argument("<B>", "bag folder or archive")
    .addOption(jsonOption())
    .action((a: string, b: string, opts: { json?: boolean }) =>
      run(opts, async (out) => {
        const d = await (await engine()).diffBags(a, b);
        out.result(d, () => {
          if (d.identical) return `no differences (${d.unchanged} files, compared by ${d.algorithm})`;
          return [
            ...d.added.map((p) => `+ ${p}`),
            ...d.removed.map((p) => `- ${p}`),
            ...d.changed.map((c) => `~ ${c.path}`),
            ...d.metadata.map(
              (m) =>
                `~ bag-info ${m.label}: ${m.from.join(", ") || "(none)"} -> ${m.to.join(", ") || "(none)"}`,
            ),
            `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed, ${d.unchanged} unchanged (by ${d.algorithm})`,
          ].join("\n");
        });
        return 0;
      }),
    );

  bag
    .command("fetch")
    .description("download the payload a holey bag lists in fetch.txt, verified, resumable")
    .argument("<BAG>", "bag folder")
    .option("--concurrency <N>", "downloads at a time", "4")
    .option("--retries <N>", "retries per file, with backoff", "5")
    .addOption(jsonOption())
    .action((path: string, opts: { concurrency: string; retries: string; json?: boolean }) =>
      run(opts, async (out) => {
        const concurrency = Number(opts.concurrency);
        const retries = Number(opts.retries);
        if (!Number.isInteger(concurrency) || concurrency < 1)
          throw new UsageError("usage", `--concurrency "${opts.concurrency}" must be a whole number ≥ 1`);
        if (!Number.isInteger(retries) || retries < 0)
          throw new UsageError("usage", `--retries "${opts.retries}" must be a whole number ≥ 0`);
        const r = await (await engine()).fetchBag(path, {
          concurrency,
          retries,
          onFile: (e) => {
            if (!opts.json && e.state !== "present")
              out.info(
                `${e.state} ${e.path}${e.attempts > 1 ? ` (${e.attempts} attempts)` : ""}${e.error ? `: ${e.error}` : ""}`,
              );
          },
        });
        out.result(
          r,
          () =>
            `${r.fetched.length} fetched, ${r.present.length} already present, ${r.failed.length} failed${r.failed.length ? `\n${r.failed.map((f) => `  ${f.path}: ${f.error}`).join("\n")}` : ""}`,
        );
        return r.failed.length ? 1 : 0;
      }),
    );

  bag
    .command("holey")
    .description(
      "make a holey bag from a remote-file list (JSON array of {url, length, path, sha256}, paths under data/)",
    )
    .argument("<LIST>", "remote-file list (JSON)")
    .requiredOption("--out <BAG>", "new folder for the bag")
    .addOption(infoOption())
    .addOption(jsonOption())
    .action((list: string, opts: { out: string; info?: string[]; json?: boolean }) =>
      run(opts, async (out) => {
        checkOutputPath(opts.out, `--out "${opts.out}"`, { folder: true });
        const text = readInputText(list, `remote-file list "${list}"`);
        const files = (await engine()).parseRemoteList(text, `remote-file list "${list}"`);
        const s = (await engine()).createHoleyBag(files, opts.out, {
          info: parseInfo(opts.info),
          softwareAgent: SOFTWARE_AGENT,
        });
        out.result(
          s,
          () =>
            `holey bag ${s.path}: ${s.files} files, ${s.bytes} bytes to fetch\ndigest ${s.digest}${s.payloadIdentity ? `\npayload ${s.payloadIdentity}` : ""}`,
        );
        return 0;
      }),
    );
}
