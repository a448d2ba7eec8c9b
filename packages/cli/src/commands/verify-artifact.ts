// `track-run verify-artifact FILE|DIGEST --model NAME`: is this exact file the model in production
// (a signed output of a verified run, promoted by the verified chain, not invalidated, the gate
// passing)? Exit 0 yes, 1 no (one line naming why, then details), 2 bad input. What a deploy job
// runs before it pushes a model to serving.
import { existsSync, statSync } from "node:fs";
import { UsageError } from "@track-run/core/errors";
import type { DeployableResult } from "@track-run/core/ledger";
import { assertName } from "@track-run/core/names";
import type { Command } from "commander";
import { displaySafe, type Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { readPolicy } from "../trust.js";
import { openReader, type TrustFlags, withTrustOptions } from "./ledger.js";

interface VerifyArtifactFlags extends TrustFlags {
  model: string;
  environment?: string;
  policy?: string;
  ledger?: string;
  json?: boolean;
}

const DIGEST = /^(?:sha256:)?[0-9a-fA-F]{64}$/;

/** The digest of what the user named: a file (hashed, streamed), or a sha256 digest as written. */
async function digestOf(target: string): Promise<{ digest: string; file?: string }> {
  const { parseDigest, sha256OfFile } = await import("@track-run/core/ledger");
  if (existsSync(target)) {
    if (!statSync(target).isFile())
      throw new UsageError(
        "usage",
        `FILE: "${target}" is not a file; name the model file or its sha256 digest`,
      );
    return { digest: await sha256OfFile(target), file: target };
  }
  if (DIGEST.test(target.trim())) return { digest: parseDigest(target) };
  throw new UsageError(
    "usage",
    `FILE|DIGEST: "${target}" is neither a file here nor a sha256 digest (sha256:<64 hex digits>)`,
  );
}

/** The text of a result: the answer on the first line, then details. */
export function deployableText(r: DeployableResult, what: string): string {
  const where = `${r.model}${r.environment ? ` in environment ${r.environment}` : ""}`;
  if (!r.deployable) {
    const [first, ...rest] = r.reasons;
    return [
      `NO   ${what} is not the production model of ${where}: ${first?.message ?? "unknown"}`,
      ...rest.map((x) => `     also: ${x.message}`),
      `     digest ${r.digest}`,
      ...r.notes.map((n) => `     note: ${n}`),
    ].join("\n");
  }
  const p = r.promotion!;
  const by = [p.by.actor, p.by.workflowRun].filter(Boolean).join(", ");
  return [
    `ok   ${what} is the production model of ${where}`,
    `run        ${r.runId}`,
    `commit     ${r.commit ?? "(not pinned by a commit)"}`,
    `output     ${r.outputPath}`,
    `digest     ${r.digest}`,
    `promotion  #${p.seq} (${p.kind}) at ${p.at}${by ? ` by ${by}` : ""}${p.by.environment ? `, environment ${p.by.environment}` : ""}${p.signer ? `, signed by ${p.signer}` : ""}`,
    `verdict    ${r.verdict ? `${r.verdict.pass ? "PASS" : "FAIL"} (${r.verdict.rules.length} rule(s), re-run against ${r.verdict.baselineRuns.join(", ") || "no baseline: first model"})` : "not re-run (no policy)"}`,
    ...r.notes.map((n) => `note       ${n}`),
  ].join("\n");
}

async function verifyArtifact(target: string, f: VerifyArtifactFlags, out: Output): Promise<number> {
  const model = assertName("model", f.model, "--model");
  const { digest, file } = await digestOf(target);
  let policy = await readPolicy(f.policy, false);
  // The project's default policy is another model's: not this gate.
  if (policy && !f.policy && policy.model !== model) policy = undefined;
  const reader = await openReader(f);
  const { checkDeployable } = await import("@track-run/core/ledger");
  const r = displaySafe(
    await checkDeployable({
      reader,
      model,
      digest,
      ...(f.environment ? { environment: f.environment } : {}),
      ...(policy ? { policy } : {}),
    }),
  );
  out.result({ ...r, ...(file ? { file } : {}) }, () => deployableText(r, file ?? r.digest));
  return r.deployable ? 0 : 1;
}

export function registerVerifyArtifact(program: Command, run: CommandRunner): void {
  withTrustOptions(
    program
      .command("verify-artifact")
      .description(
        "is this exact model file the model in production? a signed output of a verified run, promoted, not invalidated, the gate passing; exit 0 yes, 1 no",
      )
      .argument("<FILE|DIGEST>", "the model file (hashed), or its sha256 digest")
      .requiredOption("--model <NAME>", "the model")
      .option(
        "--environment <NAME>",
        "the deployment environment: the newest promotion recorded with it (default: the head of production)",
      )
      .option(
        "--policy <FILE>",
        "the model's gate, re-run read-only (default .track-run/policy.yml when present)",
      ),
  )
    .addOption(jsonOption())
    .action((target: string, f: VerifyArtifactFlags) => run(f, (out) => verifyArtifact(target, f, out)));
}
