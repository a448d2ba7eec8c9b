// `track-run pull RUN|DIGEST --out DIR`: a run's outputs from its OCI artifact, every file checked
// against the signed record before the folder is put in place. RUN is read through the verified
// ledger reader (the artifact found by its record's artifact.json, or by the run id's tag in
// --from); DIGEST (with --from) is checked against the bundle attached to the artifact, verified
// against the trust policy.
import { UsageError } from "@track-run/core/errors";
import { isName } from "@track-run/core/names";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { registryAccess } from "../registry.js";
import { readerFor, readTrust } from "../trust.js";

interface PullFlags {
  out?: string;
  from?: string;
  ledger?: string;
  trust?: string;
  trustedKey?: string[];
  trustedRoot?: string;
  json?: boolean;
}

async function pullCommand(what: string, flags: PullFlags, out: Output): Promise<number> {
  if (!flags.out)
    throw new UsageError("usage", "pull needs --out DIR: a new or empty folder for the outputs");
  const oci = await import("@track-run/core/oci");
  const from = flags.from ? oci.parseOciReference(flags.from, `--from "${flags.from}"`) : undefined;
  const trust = await readTrust({
    ...(flags.trustedKey ? { trustedKeys: flags.trustedKey } : {}),
    ...(flags.trust ? { trust: flags.trust } : {}),
    ...(flags.trustedRoot ? { trustedRoot: flags.trustedRoot } : {}),
  });
  const access = await registryAccess(out);
  const onStep = (m: string) => out.info(`track-run: ${m}`);
  let result: import("@track-run/core/oci").PulledOutputs;
  if (what.startsWith("sha256:")) {
    if (!from)
      throw new UsageError(
        "usage",
        `pull ${what}: a digest needs --from oci://REGISTRY/REPO, the repository that holds the artifact`,
      );
    if (!oci.DIGEST_PATTERN.test(what))
      throw new UsageError("usage", `pull "${what}" is not a digest: sha256: and 64 hex digits`);
    const r = await oci.pullDigest(oci.registryClient(from, access), what, trust, {
      outDir: flags.out,
      onStep,
    });
    result = {
      runId: r.runId,
      reference: r.reference,
      digest: r.digest,
      outDir: r.outDir,
      files: r.files,
      verifiedBy: r.verifiedBy,
    };
  } else {
    if (!isName(what))
      throw new UsageError(
        "usage",
        `pull "${what}" is neither a run id nor a digest (sha256:…); see \`track-run log\` for run ids`,
      );
    const reader = await readerFor(flags.ledger ?? readEnvironment().ledger, trust);
    result = await oci.pullRun(reader, what, {
      outDir: flags.out,
      ...(from ? { from } : {}),
      client: (ref) => oci.registryClient(ref, access),
      onStep,
    });
  }
  out.result(result, () =>
    [
      `pulled run ${result.runId}'s ${result.files.length} output(s) from ${result.reference} into ${result.outDir}`,
      `every file matches the signed record (${result.verifiedBy === "ledger" ? "the run's verified record in the ledger" : "the verified bundle attached to the artifact"})`,
      ...result.files.map((f) => `  ${f.path} sha256:${f.sha256}`),
    ].join("\n"),
  );
  return 0;
}

export function registerPull(program: Command, run: CommandRunner): void {
  program
    .command("pull")
    .description(
      "fetch a run's outputs from its OCI artifact into a new or empty folder, each file checked against the signed record",
    )
    .argument("<RUN|DIGEST>", "a run id of the ledger, or the artifact's digest (sha256:…) with --from")
    .requiredOption("--out <DIR>", "where the outputs go (new or empty; filled only when every file checked)")
    .option("--from <oci://REGISTRY/REPO>", "the repository holding the artifact (needed with a digest)")
    .option("--ledger <URI>", "where runs are recorded (default dir:.track-run/ledger)")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json when present)")
    .option("--trusted-key <PUB...>", "a public key trusted to have signed runs, repeatable")
    .option("--trusted-root <FILE>", "Sigstore trusted root for keyless bundles")
    .addOption(jsonOption())
    .action((what: string, flags: PullFlags) => run(flags, (out) => pullCommand(what, flags, out)));
}
