// Is this exact file the model in production? What a deploy job asks before it pushes a model to
// serving: the file's sha256 must be a signed output of a verified run, that run must be the one the
// model's verified promotion chain has in production (for an environment: its newest promotion in
// that environment), nothing it derives from may be invalidated, and the policy's gate, re-run
// read-only against the production it replaced, must pass. Pure over the verified reader.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { Policy } from "../__generated__/index.js";
import { UsageError } from "../errors.js";
import { evaluateGate, type GateVerdict } from "../policy/gate.js";
import { assertName } from "../util/names.js";
import type { ProductionChain, Promotion } from "./chain.js";
import { fileNode, promotionNode, runNode } from "./graph.js";
import { describeMarks } from "./invalidation.js";
import { type LoadedRun, provenanceOf } from "./promote.js";
import type { LedgerReader } from "./reader.js";
import type { RunRecord } from "./records.js";

/** Why a file is not deployable, one per reason, each with a stable code. */
export type NotDeployableCode =
  | "no-signed-output"
  | "nothing-in-production"
  | "other-model"
  | "never-promoted"
  | "replaced"
  | "rolled-back"
  | "not-verified"
  | "damaged"
  | "invalidated"
  | "gate-fails";

export interface NotDeployableReason {
  code: NotDeployableCode;
  /** One line, as people read it. */
  message: string;
  /** The run it is about, when there is one. */
  runId?: string;
}

/** The promotion that put the run where it is now, as people read it. */
export interface DeployedPromotion {
  seq: number;
  kind: "promotion" | "rollback";
  at: string;
  by: { actor?: string; workflowRun?: string; environment?: string };
  signer?: string;
}

export interface DeployableResult {
  deployable: boolean;
  model: string;
  environment?: string;
  /** "sha256:<hex>" of the file asked about. */
  digest: string;
  /** Present when deployable (and, when it is not, where the production run could still be named). */
  runId?: string;
  commit?: string;
  /** The file's path among the run's outputs. */
  outputPath?: string;
  promotion?: DeployedPromotion;
  /** The gate, re-run read-only (absent without a policy). */
  verdict?: GateVerdict;
  /** Empty when deployable; else every reason, the first the one to name. */
  reasons: NotDeployableReason[];
  /** What a reader should know beside the answer (rules not re-checked, records left out). */
  notes: string[];
}

/** "sha256:<hex>" from what a user wrote (hex or sha256:hex, any case); exit 2 otherwise. */
export function parseDigest(value: string, what = "DIGEST"): string {
  const m = /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(value.trim());
  if (!m)
    throw new UsageError(
      "usage",
      `${what}: ${JSON.stringify(value)} is not a sha256 digest (64 hex digits, or sha256:<64 hex digits>)`,
    );
  return `sha256:${m[1]!.toLowerCase()}`;
}

/** The sha256 of a file, streamed (never loaded whole): "sha256:<hex>". */
export function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path)
      .on("error", reject)
      .on("data", (c) => h.update(c))
      .on("end", () => resolve(`sha256:${h.digest("hex")}`));
  });
}

/**
 * The promotion a deploy job compares with: the head of the chain, or, for an environment, the
 * newest promotion (or rollback) recorded with that environment.
 */
export function deployedPromotion(chain: ProductionChain, environment?: string): Promotion | undefined {
  if (environment === undefined) return chain.head;
  return chain.promotions.findLast((p) => p.pointer.promotedBy?.environment === environment);
}

const inEnv = (environment: string | undefined) => (environment ? ` in environment ${environment}` : "");

const promotionOf = (p: Promotion): DeployedPromotion => ({
  seq: p.pointer.seq,
  kind: p.pointer.kind,
  at: p.pointer.promotedAt,
  by: p.pointer.promotedBy ?? {},
  ...(p.signer ? { signer: p.signer } : {}),
});

/** The runs whose signed manifest lists an output with this digest (damaged records have none). */
function outputsMatching(runs: readonly RunRecord[], hex: string): Array<{ run: RunRecord; path: string }> {
  const out: Array<{ run: RunRecord; path: string }> = [];
  for (const run of runs) {
    const o = run.manifest?.outputs.find((x) => x.sha256.replace(/^sha256:/, "").toLowerCase() === hex);
    if (run.trust !== "damaged" && o) out.push({ run, path: o.path });
  }
  return out;
}

/** Why a matched run that is not the deployed one is not: never promoted, replaced, rolled back. */
function whyNotDeployed(
  chain: ProductionChain,
  scope: Promotion[],
  run: RunRecord,
  target: Promotion,
  environment: string | undefined,
): NotDeployableReason {
  const model = chain.model;
  const mine = scope.filter(
    (p) => p.pointer.runId === run.runId && p.pointer.manifestDigest === run.manifestDigest,
  );
  const last = mine.at(-1);
  const now = `production${inEnv(environment)} is run ${target.pointer.runId} (#${target.pointer.seq})`;
  if (!last)
    return {
      code: "never-promoted",
      runId: run.runId,
      message: `it is an output of run ${run.runId}, which was never promoted to production of ${model}${inEnv(environment)}; ${now}`,
    };
  const next = scope.find((p) => p.pointer.seq > last.pointer.seq) ?? target;
  const rolledBack = next.pointer.kind === "rollback" && next.pointer.previous?.runId === run.runId;
  return rolledBack
    ? {
        code: "rolled-back",
        runId: run.runId,
        message: `it is an output of run ${run.runId}, promoted as #${last.pointer.seq} and rolled back by #${next.pointer.seq}; ${now}`,
      }
    : {
        code: "replaced",
        runId: run.runId,
        message: `it is an output of run ${run.runId}, promoted as #${last.pointer.seq} and replaced by #${next.pointer.seq} (run ${next.pointer.runId}); ${now}`,
      };
}

/**
 * The gate of the promotion that put the run in production, re-run read-only: the run against the
 * production it replaced (for a rollback, against what its own last promotion replaced). Bags are
 * not re-checked (a deploy job does not hold the training data; the promotion's gate checked them).
 */
async function regate(
  reader: LedgerReader,
  policy: Policy,
  chain: ProductionChain,
  run: LoadedRun,
  target: Promotion,
  notes: string[],
): Promise<GateVerdict> {
  const promotedBy = chain.promotions.findLast(
    (p) =>
      p.pointer.seq <= target.pointer.seq &&
      p.pointer.kind === "promotion" &&
      p.pointer.runId === run.runId &&
      p.pointer.manifestDigest === run.manifestDigest,
  );
  const previous = (promotedBy ?? target).pointer.previous;
  const baseline = previous
    ? await reader.promotedRun(chain.model, previous.runId, previous.manifestDigest)
    : undefined;
  const gated: Policy = policy.provenance?.data_valid
    ? { ...policy, provenance: { ...policy.provenance, data_valid: false } }
    : policy;
  if (gated !== policy)
    notes.push(
      "data_valid is not re-checked here: the bags were checked by the gate when the run was promoted",
    );
  const provenance = await provenanceOf(reader, run, false);
  return evaluateGate(
    gated,
    [{ manifest: run.manifest, provenance }],
    baseline?.manifest ? [baseline.manifest] : [],
  );
}

/**
 * Whether the file with this digest is the model in production (for an environment: its newest
 * promotion there): a signed output of a verified run, promoted by the verified chain, not derived
 * from an invalidated input, and passing the policy's gate (when a policy is given). A broken chain
 * throws (exit 1, naming the file), as every command that reads production does.
 */
export async function checkDeployable(o: {
  reader: LedgerReader;
  model: string;
  digest: string;
  environment?: string;
  policy?: Policy;
}): Promise<DeployableResult> {
  const model = assertName("model", o.model, "--model");
  const digest = parseDigest(o.digest);
  const hex = digest.slice("sha256:".length);
  if (o.policy && o.policy.model !== model)
    throw new UsageError("usage", `the policy is for model ${o.policy.model}, not ${model}`);
  const env = o.environment?.trim() || undefined;
  const base = { model, ...(env ? { environment: env } : {}), digest };
  const notes: string[] = [];
  const no = (reasons: NotDeployableReason[], more: Partial<DeployableResult> = {}): DeployableResult => ({
    ...base,
    deployable: false,
    ...more,
    reasons,
    notes,
  });

  const chain = await o.reader.production(model);
  const target = deployedPromotion(chain, env);
  const matches = outputsMatching(await o.reader.runs(), hex);
  const ofModel = matches.filter((m) => m.run.manifest?.model === model);
  if (matches.length === 0)
    return no([
      {
        code: "no-signed-output",
        message: `${digest} matches no output of any recorded run in ${o.reader.uri}: it is not a file a recorded run produced (changed, or made elsewhere)`,
      },
    ]);
  if (ofModel.length === 0)
    return no(
      matches.map((m) => ({
        code: "other-model" as const,
        runId: m.run.runId,
        message: `it is an output of run ${m.run.runId} of model ${m.run.manifest?.model}, not of ${model}`,
      })),
    );
  if (!target)
    return no([
      {
        code: "nothing-in-production",
        message: `model ${model} has nothing in production${inEnv(env)}${env && chain.head ? ` (no promotion was recorded with environment ${env})` : ""}`,
      },
    ]);

  const found = ofModel.find(
    (m) => m.run.runId === target.pointer.runId && m.run.manifestDigest === target.pointer.manifestDigest,
  );
  if (!found) {
    const scope = env
      ? chain.promotions.filter((p) => p.pointer.promotedBy?.environment === env)
      : chain.promotions;
    const reasons = ofModel.map((m) => whyNotDeployed(chain, scope, m.run, target, env));
    // The production run's own record may be what is wrong.
    const current = await o.reader.find(target.pointer.runId);
    if (!current || current.trust === "damaged")
      reasons.push({
        code: "damaged",
        runId: target.pointer.runId,
        message: `the production run ${target.pointer.runId} has ${current ? `a damaged record (${current.where})` : "no record in the ledger"}`,
      });
    return no(reasons, { runId: target.pointer.runId, promotion: promotionOf(target) });
  }

  // Found by the listing; decided on its whole record, read and checked now.
  const whole = await o.reader.find(found.run.runId);
  if (!whole?.manifest || whole.trust === "damaged" || whole.manifestDigest !== target.pointer.manifestDigest)
    return no(
      [
        {
          code: "damaged",
          runId: found.run.runId,
          message: `the production run ${found.run.runId} has ${whole ? `a damaged record (${whole.where})` : "no record in the ledger"}`,
        },
      ],
      { runId: target.pointer.runId, promotion: promotionOf(target) },
    );
  const run = whole as LoadedRun;
  const reasons: NotDeployableReason[] = [];
  if (run.trust !== "verified")
    reasons.push({
      code: "not-verified",
      runId: run.runId,
      message: `run ${run.runId} is ${run.trust}: its outputs are not signed by a trusted key or identity (${run.problems.join("; ")})`,
    });
  const marks = (await o.reader.invalidations()).marks;
  const invalidated = describeMarks([
    ...(marks.get(runNode(run.runId)) ?? []),
    ...(marks.get(fileNode(hex)) ?? []),
    ...(marks.get(promotionNode(model, target.pointer.seq)) ?? []),
  ]);
  if (invalidated.length)
    reasons.push({
      code: "invalidated",
      runId: run.runId,
      message: `run ${run.runId} is derived from an invalidated input: ${invalidated.join("; ")}`,
    });
  const verdict = o.policy ? await regate(o.reader, o.policy, chain, run, target, notes) : undefined;
  if (!o.policy) notes.push("no policy given: the gate was not re-run");
  if (
    verdict &&
    !verdict.pass &&
    verdict.rules.some((r) => !r.pass && !(r.rule === "not_invalidated" && invalidated.length))
  )
    reasons.push({
      code: "gate-fails",
      runId: run.runId,
      message: `the gate of ${model} does not pass for run ${run.runId}: ${verdict.rules
        .filter((r) => !r.pass && !(r.rule === "not_invalidated" && invalidated.length))
        .map((r) => `${r.metric ? `${r.rule} ${r.metric}` : r.rule}: ${r.reason}`)
        .join("; ")}`,
    });
  return {
    ...base,
    deployable: reasons.length === 0,
    runId: run.runId,
    ...(run.manifest.code.commit ? { commit: run.manifest.code.commit } : {}),
    outputPath: found.path,
    promotion: promotionOf(target),
    ...(verdict ? { verdict } : {}),
    reasons,
    notes,
  };
}
