// actions/verify: inputs -> core -> outputs, step summary, exit. The step a deployment puts in
// front of its push to serving: exit 1 (naming why) unless the file is the model in production.
import { existsSync, statSync } from "node:fs";
import * as core from "@actions/core";
import { UsageError } from "@track-run/core/errors";
import {
  checkDeployable,
  type DeployableResult,
  LedgerReader,
  openLedger,
  openRunIndex,
  parseDigest,
  sha256OfFile,
} from "@track-run/core/ledger";
import { assertName } from "@track-run/core/names";
import { markdownText as esc } from "@track-run/core/report";
import { readPolicyFile } from "@track-run/core/schema";
import { loadTrust } from "@track-run/core/sign";
import { failStep } from "../../fail.js";
import { defaultCacheDir, ledgerOptions } from "../../ledger.js";

interface Inputs {
  file?: string;
  digest?: string;
  model: string;
  environment?: string;
  policy: string;
  ledger: string;
  trust: string;
  trustedKeys: string[];
  trustedRoot: string;
}

function readInputs(): Inputs {
  const model = assertName("model", core.getInput("model", { required: true }), "input model");
  const file = core.getInput("file");
  const digest = core.getInput("digest");
  if (!file === !digest)
    throw new UsageError(
      "usage",
      "inputs file and digest: give exactly one (the model file, or its sha256 digest)",
    );
  if (file && !(existsSync(file) && statSync(file).isFile()))
    throw new UsageError("usage", `input file: "${file}" is not a file here`);
  return {
    ...(file ? { file } : {}),
    ...(digest ? { digest: parseDigest(digest, "input digest") } : {}),
    model,
    ...(core.getInput("environment") ? { environment: core.getInput("environment") } : {}),
    policy: core.getInput("policy"),
    ledger: core.getInput("ledger") || "dir:.track-run/ledger",
    trust: core.getInput("trust"),
    trustedKeys: core.getMultilineInput("trusted-keys"),
    trustedRoot: core.getInput("trusted-root"),
  };
}

async function summary(r: DeployableResult, what: string): Promise<void> {
  const where = `${esc(r.model)}${r.environment ? ` (environment ${esc(r.environment)})` : ""}`;
  const s = core.summary;
  if (r.deployable) {
    const p = r.promotion!;
    s.addHeading(`✅ ${esc(what)} is the production model of ${where}`, 3).addTable([
      [
        { data: "run", header: true },
        { data: "commit", header: true },
        { data: "output", header: true },
        { data: "promotion", header: true },
        { data: "verdict", header: true },
      ],
      [
        esc(r.runId ?? ""),
        esc(r.commit ?? "–"),
        esc(r.outputPath ?? ""),
        esc(
          `#${p.seq} ${p.kind}, ${p.at}${p.by.actor ? ` by ${p.by.actor}` : ""}${p.by.environment ? `, ${p.by.environment}` : ""}`,
        ),
        r.verdict ? (r.verdict.pass ? "pass" : "fail") : "not re-run (no policy)",
      ],
    ]);
  } else {
    s.addHeading(`⛔ ${esc(what)} is not the production model of ${where}`, 3).addList(
      r.reasons.map((x) => esc(x.message)),
    );
  }
  s.addRaw(`Digest \`${r.digest}\`.`, true);
  if (r.notes.length) s.addList(r.notes.map(esc));
  await s.write();
}

async function run(): Promise<void> {
  const i = readInputs();
  const policyFile = readPolicyFile(i.policy, false);
  // The project's default policy is another model's: not this gate.
  const policy = policyFile && (i.policy || policyFile.model === i.model) ? policyFile : undefined;
  const trust = loadTrust({ trustedKeys: i.trustedKeys, trust: i.trust, trustedRoot: i.trustedRoot });
  const digest = i.file ? await sha256OfFile(i.file) : i.digest!;
  core.setOutput("digest", digest);
  const store = await openLedger(i.ledger, ledgerOptions());
  const index = await openRunIndex(defaultCacheDir(), store.identity);
  const reader = await LedgerReader.open(store, trust, index ? { index } : {});
  const r = await checkDeployable({
    reader,
    model: i.model,
    digest,
    ...(i.environment ? { environment: i.environment } : {}),
    ...(policy ? { policy } : {}),
  });
  const what = i.file ?? digest;
  core.setOutput("verified", String(r.deployable));
  await summary(r, what);
  for (const n of r.notes) core.info(`track-run: note: ${n}`);
  if (!r.deployable) {
    const [first, ...rest] = r.reasons;
    core.setFailed(
      [
        `${what} is not the production model of ${r.model}: ${first?.message}`,
        ...rest.map((x) => x.message),
      ].join("\n"),
    );
    return;
  }
  core.setOutput("run-id", r.runId ?? "");
  core.setOutput("commit", r.commit ?? "");
  core.setOutput("promotion", String(r.promotion?.seq ?? ""));
  core.info(
    `track-run: ${what} is the production model of ${r.model} (run ${r.runId}, promotion #${r.promotion?.seq})`,
  );
}

run().catch(failStep);
