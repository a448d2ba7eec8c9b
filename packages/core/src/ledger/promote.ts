// Comparing candidates with production, promoting, rolling back: the ledger side of the gate.
import { execFileSync } from "node:child_process";
import type { Policy, RunManifest } from "../__generated__/index.js";
import { pinData } from "../bag/pin.js";
import { CheckFailedError, UsageError } from "../errors.js";
import { canonicalDigest } from "../manifest/canonical.js";
import { evaluateGate, type GateVerdict, metricValue, type ProvenanceFacts } from "../policy/gate.js";
import type { HistoryPoint } from "../report/markdown.js";
import type { IdentityRule } from "../sign/identity.js";
import type { PublicKeyInfo } from "../sign/keys.js";
import { type SigningPlan, signRecord } from "../sign/plan.js";
import { PROMOTION_PREDICATE_TYPE, STATEMENT_TYPE } from "../sign/statement.js";
import { verifyBundle } from "../sign/verify.js";
import { diffRuns, type RunDiff } from "./diff.js";
import { readManifest, reproductionsIn } from "./query.js";
import type { LedgerStore, ProductionPointer } from "./store.js";

export { PROMOTION_PREDICATE_TYPE };

export interface Trust {
  keys: readonly PublicKeyInfo[];
  identities?: readonly IdentityRule[];
  trustedRoot?: unknown;
}

export interface LoadedRun {
  manifest: RunManifest;
  bundle?: unknown;
}

export async function loadRun(ledger: LedgerStore, runId: string): Promise<LoadedRun> {
  const manifest = await readManifest(ledger, runId);
  if (!manifest) throw new UsageError("no-such-run", `run ${runId} is not in ${ledger.uri}`);
  const bundle =
    (await ledger.readRunFile(runId, "bundle.sigstore.json")) ??
    (await ledger.readRunFile(runId, "record.unsigned.json"));
  return { manifest, ...(bundle ? { bundle: JSON.parse(bundle.toString("utf8")) } : {}) };
}

/**
 * What changed between two recorded runs, with the bags' payload manifests from the ledger and
 * the files changed between the commits from the repository at `repo` (when given).
 */
export async function diffRecorded(
  ledger: LedgerStore,
  from: RunManifest,
  to: RunManifest,
  repo?: string,
): Promise<RunDiff> {
  const manifests = new Map<string, string | undefined>();
  for (const r of [from, to]) {
    for (const d of r.data)
      manifests.set(
        `${r.runId}/${d.name}`,
        (await ledger.readRunFile(r.runId, `data-${d.name}.manifest-sha256.txt`))?.toString("utf8"),
      );
  }
  return diffRuns(from, to, {
    dataManifest: (runId, name) => manifests.get(`${runId}/${name}`),
    changedFiles: (a, b) => {
      if (!repo) return undefined;
      try {
        return execFileSync("git", ["-C", repo, "diff", "--name-only", a, b], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        })
          .split("\n")
          .filter(Boolean);
      } catch {
        return undefined;
      }
    },
  });
}

/**
 * Run ids from what a user names: a run id as is, or `commit:SHA` for every run of `model` at that
 * commit (a seed matrix trained on one pull request head), reproductions left out, oldest first.
 */
export async function resolveRuns(
  ledger: LedgerStore,
  model: string,
  refs: readonly string[],
): Promise<string[]> {
  const out: string[] = [];
  for (const ref of refs) {
    if (!ref.startsWith("commit:")) {
      out.push(ref);
      continue;
    }
    const sha = ref.slice("commit:".length).toLowerCase();
    if (!/^[0-9a-f]{7,40}$/.test(sha)) throw new UsageError("usage", `"${ref}" must be commit:SHA (hex)`);
    const found: string[] = [];
    for (const id of await ledger.listRuns()) {
      const m = await readManifest(ledger, id);
      if (m?.model === model && m.code.commit?.startsWith(sha) && !m.links?.reproductionOf) found.push(id);
    }
    if (found.length === 0)
      throw new UsageError("no-such-run", `no run of ${model} at commit ${sha} in ${ledger.uri}`);
    out.push(...found);
  }
  return out;
}

/** Provenance facts of a run: signature against the trust policy, bags (when asked), reproductions. */
export async function provenanceOf(
  ledger: LedgerStore,
  run: LoadedRun,
  trust: Trust,
  checkData: boolean,
): Promise<ProvenanceFacts> {
  let signed = false;
  if (run.bundle) {
    const v = await verifyBundle(run.bundle, {
      keys: trust.keys,
      ...(trust.identities ? { identities: trust.identities } : {}),
      ...(trust.trustedRoot ? { trustedRoot: trust.trustedRoot } : {}),
    });
    signed =
      v.signed &&
      v.checks.find((c) => c.name === "signature")?.ok === true &&
      canonicalDigest(v.manifest) === canonicalDigest(run.manifest);
  }
  let dataValid: boolean | undefined;
  if (checkData) {
    dataValid = true;
    for (const d of run.manifest.data) {
      try {
        if (!d.location || (await pinData(d.location)).digest !== d.digest) dataValid = false;
      } catch {
        dataValid = false;
      }
    }
  }
  const reproductions = (await reproductionsIn(ledger, run.manifest.runId)).filter(
    (r) => r.verdict === "bitwise" || r.verdict === "within-tolerance",
  ).length;
  return { signed, ...(dataValid !== undefined ? { dataValid } : {}), reproductions };
}

export interface CompareOutcome {
  verdict: GateVerdict;
  production?: ProductionPointer;
  diff?: RunDiff;
  history: Record<string, HistoryPoint[]>;
}

/** The gate for candidates against production (or a given baseline run), with what changed and the history charts need. */
export async function compareWithProduction(o: {
  ledger: LedgerStore;
  policy: Policy;
  candidates: readonly string[];
  baseline?: string;
  trust: Trust;
  repo?: string;
}): Promise<CompareOutcome> {
  const production = await o.ledger.readProduction(o.policy.model);
  const baselineId = o.baseline && o.baseline !== "production" ? o.baseline : production?.runId;
  const candidates = await Promise.all(o.candidates.map((id) => loadRun(o.ledger, id)));
  const withFacts = await Promise.all(
    candidates.map(async (c) => ({
      manifest: c.manifest,
      provenance: await provenanceOf(o.ledger, c, o.trust, Boolean(o.policy.provenance?.data_valid)),
    })),
  );
  const base = baselineId ? await loadRun(o.ledger, baselineId) : undefined;
  const verdict = evaluateGate(o.policy, withFacts, base ? [base.manifest] : []);
  const history: Record<string, HistoryPoint[]> = {};
  // Each promoted run's manifest, read once for every metric's chart.
  const promoted = await Promise.all(
    (await o.ledger.promotions(o.policy.model)).map(async (p) => ({
      p,
      manifest: await readManifest(o.ledger, p.runId),
    })),
  );
  for (const key of Object.keys(o.policy.metrics ?? {})) {
    const points: HistoryPoint[] = [];
    for (const { p, manifest } of promoted) {
      const v = manifest && metricValue(manifest, key);
      if (v !== undefined) points.push({ label: `#${p.seq} ${p.runId.slice(0, 15)}`, value: v });
    }
    const mean = verdict.metrics.find((m) => m.name === key)?.candidate.mean;
    if (mean !== undefined) points.push({ label: "candidate", value: mean });
    history[key] = points;
  }
  const diff =
    base && candidates[0]
      ? await diffRecorded(o.ledger, base.manifest, candidates[0].manifest, o.repo)
      : undefined;
  return { verdict, ...(production ? { production } : {}), ...(diff ? { diff } : {}), history };
}

export interface Promoter {
  actor?: string;
  workflowRun?: string;
  environment?: string;
}

async function signedPointer(pointer: ProductionPointer, signing: SigningPlan): Promise<string> {
  const statement = {
    _type: STATEMENT_TYPE,
    subject: [
      {
        name: `runs/${pointer.runId}/manifest.json`,
        digest: { sha256: pointer.manifestDigest.replace(/^sha256:/, "") },
      },
    ],
    predicateType: PROMOTION_PREDICATE_TYPE,
    predicate: pointer,
  };
  const record = await signRecord(statement as never, signing);
  return `${JSON.stringify(record.document, null, 2)}\n`;
}

export interface PromotionResult {
  promoted: boolean;
  pointer?: ProductionPointer;
  verdict: GateVerdict;
  reason?: string;
}

/** Re-verifies and re-gates against the production of now, then one compare-and-swap of the pointer. */
export async function promoteRun(o: {
  ledger: LedgerStore;
  policy: Policy;
  runId: string;
  trust: Trust;
  signing: SigningPlan;
  by: Promoter;
  now?: Date;
}): Promise<PromotionResult> {
  const current = await o.ledger.readProduction(o.policy.model);
  const outcome = await compareWithProduction({
    ledger: o.ledger,
    policy: o.policy,
    candidates: [o.runId],
    trust: o.trust,
  });
  if (!outcome.verdict.pass)
    return { promoted: false, verdict: outcome.verdict, reason: "the gate does not pass" };
  if (current?.runId === o.runId)
    return { promoted: false, verdict: outcome.verdict, reason: `${o.runId} is already in production` };
  const { manifest } = await loadRun(o.ledger, o.runId);
  const pointer: ProductionPointer = {
    model: o.policy.model,
    runId: o.runId,
    manifestDigest: canonicalDigest(manifest),
    seq: (current?.seq ?? 0) + 1,
    kind: "promotion",
    promotedAt: (o.now ?? new Date()).toISOString(),
    promotedBy: o.by,
    previous: current ? { runId: current.runId, manifestDigest: current.manifestDigest } : null,
  };
  const swapped = await o.ledger.swapProduction(
    o.policy.model,
    current?.seq ?? 0,
    pointer,
    await signedPointer(pointer, o.signing),
  );
  if (!swapped) {
    const now = await o.ledger.readProduction(o.policy.model);
    return {
      promoted: false,
      verdict: outcome.verdict,
      reason: `production of ${o.policy.model} changed while promoting (now ${now?.runId ?? "none"}, #${now?.seq ?? 0}); compare again and promote again`,
    };
  }
  return { promoted: true, pointer, verdict: outcome.verdict };
}

/** Restores the previous production as a new promotion (kind rollback), by the same compare-and-swap. */
export async function rollbackModel(o: {
  ledger: LedgerStore;
  model: string;
  signing: SigningPlan;
  by: Promoter;
  now?: Date;
}): Promise<ProductionPointer> {
  const current = await o.ledger.readProduction(o.model);
  if (!current)
    throw new UsageError("nothing-in-production", `model ${o.model} has nothing in production to roll back`);
  if (!current.previous)
    throw new CheckFailedError(
      "no-previous",
      `model ${o.model} has only ever had ${current.runId} in production: there is nothing to roll back to`,
    );
  const pointer: ProductionPointer = {
    model: o.model,
    runId: current.previous.runId,
    manifestDigest: current.previous.manifestDigest,
    seq: current.seq + 1,
    kind: "rollback",
    promotedAt: (o.now ?? new Date()).toISOString(),
    promotedBy: o.by,
    previous: { runId: current.runId, manifestDigest: current.manifestDigest },
  };
  if (
    !(await o.ledger.swapProduction(o.model, current.seq, pointer, await signedPointer(pointer, o.signing)))
  ) {
    throw new CheckFailedError(
      "production-changed",
      `production of ${o.model} changed during the rollback; look at it again`,
    );
  }
  return pointer;
}
