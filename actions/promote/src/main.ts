import { homedir } from "node:os";
import * as core from "@actions/core";
import { UsageError } from "@track-run/core/errors";
import { workflowRunFromEnvironment } from "@track-run/core/github";
import {
  LedgerReader,
  openLedger,
  openRunIndex,
  type ProductionPointer,
  promoteRun,
  rollbackModel,
} from "@track-run/core/ledger";
import { assertName } from "@track-run/core/names";
import { credentialsFor, tagPromotedRun } from "@track-run/core/oci";
import { describeRule } from "@track-run/core/policy";
import { readPolicyFile } from "@track-run/core/schema";
import { loadTrust } from "@track-run/core/sign";
import { failStep } from "../../fail.js";
import { defaultCacheDir, ledgerOptions } from "../../ledger.js";
import { flag, signingPlan } from "../../signing.js";

function promoter() {
  const workflowRun = workflowRunFromEnvironment(process.env);
  return {
    ...(process.env.GITHUB_ACTOR ? { actor: process.env.GITHUB_ACTOR } : {}),
    ...(workflowRun ? { workflowRun } : {}),
    ...(core.getInput("environment") ? { environment: core.getInput("environment") } : {}),
  };
}

function outputs(p: ProductionPointer): void {
  core.setOutput("promoted", "true");
  core.setOutput("run-id", p.runId);
  core.setOutput("seq", String(p.seq));
  core.setOutput("previous-run", p.previous?.runId ?? "");
}

async function run(): Promise<void> {
  const model = assertName("model", core.getInput("model", { required: true }), "input model");
  const runInput = core.getInput("run");
  if (runInput && !flag("rollback")) assertName("run", runInput, "input run");
  const ledger = await openLedger(core.getInput("ledger") || "dir:.track-run/ledger", ledgerOptions());
  const trust = loadTrust({
    trustedKeys: core.getMultilineInput("trusted-keys"),
    trust: core.getInput("trust"),
    trustedRoot: core.getInput("trusted-root"),
  });
  if (flag("rollback")) {
    const p = await rollbackModel({
      store: ledger,
      trust,
      model,
      signing: await signingPlan("the rollback"),
      by: promoter(),
    });
    outputs(p);
    await core.summary
      .addHeading(`↩️ ${model}: rolled back to run ${p.runId}`, 3)
      .addRaw(`Production #${p.seq}, replacing ${p.previous?.runId ?? "none"}.`, true)
      .write();
    return;
  }
  const runId = core.getInput("run");
  if (!runId) throw new UsageError("usage", "input run: name the run to promote (or set rollback: true)");
  const policy = readPolicyFile(core.getInput("policy"), true)!;
  if (policy.model !== model)
    throw new UsageError("usage", `input model: the policy is for model ${policy.model}, not ${model}`);
  const index = await openRunIndex(defaultCacheDir(), ledger.identity);
  const r = await promoteRun({
    store: ledger,
    policy,
    runId,
    trust,
    signing: await signingPlan("the promotion"),
    by: promoter(),
    repo: ".",
    cacheDir: defaultCacheDir(),
    ...(index ? { index } : {}),
  });
  const failed = r.verdict.rules.filter((x) => !x.pass);
  if (r.promoted && r.pointer) {
    outputs(r.pointer);
    await core.summary
      .addHeading(`🚀 ${model}: run ${runId} is in production`, 3)
      .addRaw(
        `Production #${r.pointer.seq}, replacing ${r.pointer.previous?.runId ?? "none (first model)"}; recorded in ${ledger.uri}.`,
        true,
      )
      .write();
    core.info(`track-run: promoted ${runId} to production of ${model} (#${r.pointer.seq})`);
    const tag = core.getInput("tag").trim();
    if (tag && tag !== "false") {
      // `tag: true` tags with the environment's name (else production); any other value is the tag.
      const name = tag === "true" ? core.getInput("environment") || "production" : tag;
      const tagged = await tagPromotedRun(await LedgerReader.open(ledger, trust), runId, name, {
        access: {
          credentials: (registry) => credentialsFor(registry, { env: process.env, home: homedir() }),
          onRetry: (m) => core.info(`track-run: ${m}`),
        },
        onStep: (m) => core.info(`track-run: ${m}`),
      });
      for (const n of tagged.notes) core.warning(n);
      if (tagged.artifact) core.setOutput("artifact", tagged.artifact);
      if (tagged.image) core.setOutput("image", tagged.image);
    }
    return;
  }
  core.setOutput("promoted", "false");
  await core.summary
    .addHeading(`⛔ ${model}: run ${runId} was not promoted`, 3)
    .addList([r.reason ?? "", ...failed.map(describeRule)])
    .write();
  core.setFailed(
    `${runId} not promoted: ${r.reason}${failed.length ? ` (${failed.map(describeRule).join("; ")})` : ""}`,
  );
}

run().catch(failStep);
