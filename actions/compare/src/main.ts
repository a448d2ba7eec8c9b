// actions/compare: inputs -> core -> outputs, step summary, comment, status, exit. Nothing else lives here.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as core from "@actions/core";
import { context } from "@actions/github";
import { UsageError } from "@track-run/core/errors";
import {
  permissionDenied,
  statusFor,
  upsertComment,
  workflowRunFromEnvironment,
} from "@track-run/core/github";
import {
  compareWithProduction,
  LedgerReader,
  openLedger,
  openRunIndex,
  resolveRuns,
} from "@track-run/core/ledger";
import { assertName } from "@track-run/core/names";
import { describeRule } from "@track-run/core/policy";
import { marker, renderReport } from "@track-run/core/report";
import { readPolicyFile } from "@track-run/core/schema";
import { loadTrust } from "@track-run/core/sign";
import { failStep } from "../../fail.js";
import { defaultCacheDir, ledgerOptions } from "../../ledger.js";
import { octokitApi } from "./github.js";

const flag = (name: string) => core.getInput(name).trim().toLowerCase() !== "false";

interface Inputs {
  runs: string[];
  baseline: string;
  policy: string;
  ledger: string;
  trust: string;
  trustedKeys: string[];
  trustedRoot: string;
  token: string;
  comment: boolean;
  status: boolean;
  failOnGate: boolean;
  pullRequest?: number;
  sha?: string;
}

function readInputs(): Inputs {
  const runs = core
    .getInput("runs", { required: true })
    .split(/[\s,]+/)
    .filter(Boolean);
  if (runs.length === 0) throw new UsageError("usage", "input runs: name at least one run id");
  for (const r of runs) if (!r.startsWith("commit:")) assertName("run", r, "input runs:");
  const baseline = core.getInput("baseline") || "production";
  if (baseline !== "production") assertName("run", baseline, "input baseline");
  const pr = core.getInput("pull-request") || String(context.payload.pull_request?.number ?? "");
  if (pr && !/^\d+$/.test(pr)) throw new UsageError("usage", `input pull-request: "${pr}" is not a number`);
  const sha =
    core.getInput("sha") ||
    (context.payload.pull_request?.head as { sha?: string } | undefined)?.sha ||
    process.env.GITHUB_SHA;
  return {
    runs,
    baseline,
    policy: core.getInput("policy"),
    ledger: core.getInput("ledger") || "dir:.track-run/ledger",
    trust: core.getInput("trust"),
    trustedKeys: core.getMultilineInput("trusted-keys"),
    trustedRoot: core.getInput("trusted-root"),
    token: core.getInput("github-token"),
    comment: flag("comment"),
    status: flag("status"),
    failOnGate: flag("fail-on-gate"),
    ...(pr ? { pullRequest: Number(pr) } : {}),
    ...(sha ? { sha } : {}),
  };
}

async function run(): Promise<void> {
  const inputs = readInputs();
  const policy = readPolicyFile(inputs.policy, true)!;
  const store = openLedger(inputs.ledger, ledgerOptions());
  const index = await openRunIndex(defaultCacheDir(), store.identity);
  const reader = await LedgerReader.open(
    store,
    loadTrust({ trustedKeys: inputs.trustedKeys, trust: inputs.trust, trustedRoot: inputs.trustedRoot }),
    index ? { index } : {},
  );
  const outcome = await compareWithProduction({
    reader,
    policy,
    candidates: await resolveRuns(reader, policy.model, inputs.runs, {
      verifiedOnly: Boolean(policy.provenance?.signed),
    }),
    baseline: inputs.baseline,
    repo: ".",
    cacheDir: defaultCacheDir(),
  });
  for (const n of outcome.notes) core.warning(n);
  const { verdict } = outcome;
  const runUrl = workflowRunFromEnvironment(process.env);
  const report = {
    verdict,
    ...(outcome.diff ? { diff: outcome.diff } : {}),
    history: outcome.history,
    candidateSeeds: outcome.seeds,
  };
  // The step summary holds the whole report (GitHub allows 1 MiB); the comment, at most 65,536 characters.
  const full = renderReport({ ...report, limit: 1024 * 1024 - 1 });
  await core.summary.addRaw(full, true).write();
  const reportFile = join(process.env.RUNNER_TEMP ?? ".", `track-run-compare-${policy.model}.md`);
  writeFileSync(reportFile, `${full}\n`);
  core.setOutput("verdict", verdict.pass ? "pass" : "fail");
  core.setOutput("report", reportFile);
  core.info(
    `track-run: ${policy.model} ${verdict.pass ? "passes" : "fails"} the gate${verdict.firstModel ? " (first model)" : ` against ${verdict.baselineRuns.join(", ")}`}`,
  );
  for (const r of verdict.rules) core.info(`  ${r.pass ? "ok  " : "FAIL"} ${describeRule(r)}`);

  if (inputs.token && (inputs.comment || inputs.status)) {
    const api = octokitApi(inputs.token, context.repo);
    if (inputs.comment && inputs.pullRequest !== undefined) {
      const body = renderReport({ ...report, ...(runUrl ? { detailsUrl: runUrl } : {}) });
      try {
        const r = await upsertComment(api, inputs.pullRequest, marker(policy.model), body);
        core.setOutput("comment-id", String(r.comment.id));
        if (r.comment.html_url) core.setOutput("comment-url", r.comment.html_url);
        core.info(
          `track-run: ${r.action} the comment on #${inputs.pullRequest}${r.removed.length ? ` (removed ${r.removed.length} duplicate(s))` : ""}`,
        );
      } catch (e) {
        const why = permissionDenied(e);
        if (!why) throw e;
        core.warning(
          `track-run: no comment posted on #${inputs.pullRequest}: ${why}. The report is in the step summary.`,
        );
      }
    } else if (inputs.comment) {
      core.info("track-run: not a pull request, so no comment; the report is in the step summary");
    }
    if (inputs.status && inputs.sha) {
      const status = statusFor(verdict, runUrl);
      try {
        await api.createStatus(inputs.sha, status);
        core.info(`track-run: status ${status.context} = ${status.state} on ${inputs.sha.slice(0, 12)}`);
      } catch (e) {
        const why = permissionDenied(e);
        if (!why) throw e;
        core.warning(`track-run: no commit status ${status.context} set: ${why}`);
      }
    }
  } else if (!inputs.token) {
    core.info("track-run: no github-token, so no comment and no status; the report is in the step summary");
  }

  if (!verdict.pass && inputs.failOnGate) {
    const failed = verdict.rules.filter((r) => !r.pass);
    core.setFailed(`${policy.model} does not pass the gate: ${failed.map(describeRule).join("; ")}`);
  }
}

run().catch(failStep);
