// `track-run invalidate` and `track-run revalidate`: a signed record that an input is bad (or good
// again); everything derived from it is marked by log, show, lineage and compare, and refused by
// the gate's not_invalidated rule.
import type { InvalidationAction } from "@track-run/core/ledger";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { indexFor, ledgerFor, readTrust } from "../trust.js";
import { localSigningPlan } from "./run.js";

interface InvalidateFlags {
  reason: string;
  ledger?: string;
  trust?: string;
  trustedKey?: string[];
  trustedRoot?: string;
  key?: string;
  keyless?: boolean;
  tsa?: string;
  rekor?: string;
  json?: boolean;
}

function command(program: Command, run: CommandRunner, action: InvalidationAction): void {
  program
    .command(action)
    .description(
      action === "invalidate"
        ? "mark an input bad: a signed record; every run, output, model and promotion derived from it is marked, and the gate refuses candidates derived from it"
        : "retract an invalidation, with a reason: a signed record; the latest record for an input wins",
    )
    .argument(
      "<DIGEST|RUN>",
      "a run id, or a sha256 (hex or sha256:hex) of a bag, a payload identity or a file",
    )
    .requiredOption("--reason <TEXT>", `why it is ${action}d (signed into the record)`)
    .option("--ledger <URI>", "where runs are recorded (default dir:.track-run/ledger; git:https://…#BRANCH)")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json when present)")
    .option("--trusted-key <PUB...>", "a public key trusted to sign records, repeatable")
    .option("--trusted-root <FILE>", "Sigstore trusted root for keyless records")
    .option("--key <FILE>", "sign the record with this key")
    .option("--keyless", "sign the record with Sigstore")
    .option(
      "--tsa <URL>",
      "RFC 3161 timestamp authority for a key-signed record (default: $TRACK_RUN_TSA_URL)",
    )
    .option("--rekor <URL>", "Rekor to log a key-signed record in (default: $TRACK_RUN_REKOR_URL)")
    .addOption(jsonOption())
    .action((ref: string, f: InvalidateFlags) => run(f, (out) => invalidateCommand(action, ref, f, out)));
}

export function registerInvalidate(program: Command, run: CommandRunner): void {
  command(program, run, "invalidate");
  command(program, run, "revalidate");
}

async function invalidateCommand(
  action: InvalidationAction,
  ref: string,
  f: InvalidateFlags,
  out: Output,
): Promise<number> {
  const { recordInvalidation } = await import("@track-run/core/ledger");
  const { workflowRunFromEnvironment } = await import("@track-run/core/github");
  const store = await ledgerFor(f.ledger ?? readEnvironment().ledger);
  const trust = await readTrust({
    ...(f.trustedKey ? { trustedKeys: f.trustedKey } : {}),
    ...(f.trust ? { trust: f.trust } : {}),
    ...(f.trustedRoot ? { trustedRoot: f.trustedRoot } : {}),
  });
  const workflowRun = workflowRunFromEnvironment(process.env);
  const actor = process.env.GITHUB_ACTOR ?? process.env.USER;
  const index = await indexFor(store);
  const r = await recordInvalidation({
    store,
    ...(index ? { index } : {}),
    trust,
    action,
    ref,
    reason: f.reason,
    signing: await localSigningPlan(f, out),
    by: { ...(actor ? { actor } : {}), ...(workflowRun ? { workflowRun } : {}) },
  });
  out.result(r, () =>
    [
      `${action}d ${ref} (${r.predicate.target.nodes.join(", ")}): ${r.predicate.reason}`,
      `record   ${r.where}`,
      action === "invalidate"
        ? `derived  ${r.runs.length} run(s)${r.runs.length ? `: ${r.runs.join(", ")}` : ""}`
        : `lifted   for ${r.runs.length} run(s)${r.runs.length ? `: ${r.runs.join(", ")}` : ""}`,
      ...r.production.map(
        (p) =>
          `${action === "invalidate" ? "WARNING  production" : "production"} of ${p.model} (run ${p.runId}, promotion #${p.seq}) is derived from it`,
      ),
    ].join("\n"),
  );
  return 0;
}
