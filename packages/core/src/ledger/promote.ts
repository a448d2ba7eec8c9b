// Comparing candidates with production, promoting, rolling back: the ledger side of the gate.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Policy, RunManifest } from "../__generated__/index.js";
import { diffPayloadManifests } from "../bag/diff.js";
import { cachedBagPath } from "../bag/materialize.js";
import { pinData } from "../bag/pin.js";
import { CheckFailedError, UsageError } from "../errors.js";
import { canonicalJson } from "../manifest/canonical.js";
import {
  type DataChange,
  evaluateGate,
  type GateVerdict,
  metricValue,
  type ProvenanceFacts,
} from "../policy/gate.js";
import type { HistoryPoint } from "../report/markdown.js";
import { resolveDataLocation } from "../run/location.js";
import { type SigningPlan, signRecord } from "../sign/plan.js";
import { PROMOTION_PREDICATE_TYPE, STATEMENT_TYPE } from "../sign/statement.js";
import { assertName } from "../util/names.js";
import { diffRuns, type RunDiff } from "./diff.js";
import { runNode } from "./graph.js";
import { describeMarks, productionWarnings } from "./invalidation.js";
import { LedgerReader } from "./reader.js";
import type { RunRecord, Trust } from "./records.js";
import type { RunIndex } from "./run-index.js";
import type { LedgerStore, ProductionPointer } from "./types.js";

export { PROMOTION_PREDICATE_TYPE };

/** A verified, undamaged record and its signed manifest. */
export type LoadedRun = RunRecord & { manifest: RunManifest };

/** A run a command shows or decides on, through the verified reader (exit 2 unknown, exit 1 damaged). */
export async function loadRun(reader: LedgerReader, runId: string): Promise<LoadedRun> {
  return reader.require(assertName("run", runId, "run"));
}

/**
 * What changed between two recorded runs, with the bags' payload manifests from the ledger (each
 * checked against its signed digest) and the files changed between the commits from the repository
 * at `repo` (when given).
 */
export async function diffRecorded(
  reader: LedgerReader,
  from: RunManifest,
  to: RunManifest,
  repo?: string,
): Promise<RunDiff> {
  const manifests = new Map<string, string | undefined>();
  for (const r of [from, to])
    for (const [name, text] of Object.entries(await reader.payloadManifests(r)))
      manifests.set(`${r.runId}/${name}`, text);
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
 * commit (a seed matrix trained on one pull request head), reproductions and the production run
 * left out, oldest first. Damaged records are never picked up.
 */
export async function resolveRuns(
  reader: LedgerReader,
  model: string,
  refs: readonly string[],
  o: { verifiedOnly?: boolean } = {},
): Promise<string[]> {
  const out: string[] = [];
  for (const ref of refs) {
    if (!ref.startsWith("commit:")) {
      out.push(assertName("run", ref, "run"));
      continue;
    }
    const sha = ref.slice("commit:".length).toLowerCase();
    if (!/^[0-9a-f]{7,40}$/.test(sha)) throw new UsageError("usage", `"${ref}" must be commit:SHA (hex)`);
    const production = (await reader.production(model)).head?.pointer.runId;
    // Picked by the listing's columns, then each read whole: a run changed since it was indexed shows now.
    const atCommit: RunRecord[] = [];
    for (const e of await (await reader.listing()).where({ model, commitPrefix: sha, original: true })) {
      if (e.runId === production) continue;
      const r = await reader.find(e.runId);
      if (r && r.trust !== "damaged" && r.manifest?.model === model) atCommit.push(r);
    }
    // Under a policy that asks for signatures, an unverified run planted at the commit is no candidate.
    const found = atCommit.filter((r) => !o.verifiedOnly || r.trust === "verified").map((r) => r.runId);
    if (found.length === 0)
      throw new UsageError(
        "no-such-run",
        `no ${o.verifiedOnly ? "verified " : ""}run of ${model} at commit ${sha} in ${reader.uri}${atCommit.length ? ` (${atCommit.map((r) => `${r.runId} is ${r.trust}`).join(", ")})` : ""}`,
      );
    out.push(...found);
  }
  return [...new Set(out)];
}

/**
 * A candidate set is one candidate trained with several seeds: its runs may differ in seed only.
 * Anything else (code, data, params, command, image) is refused, naming what differs.
 */
export function assertSeedMatrix(runs: readonly RunManifest[]): void {
  const [first, ...rest] = runs;
  if (!first) return;
  const facets: Array<[string, (m: RunManifest) => unknown]> = [
    ["model", (m) => m.model],
    ["commit", (m) => m.code.commit ?? m.code.contentDigest],
    ["data", (m) => m.data.map((d) => `${d.name}=${d.digest}`).sort()],
    ["params", (m) => canonicalJson(m.invocation.params ?? null)],
    ["command", (m) => m.invocation.command],
    ["image", (m) => m.environment.image?.repoDigest ?? m.environment.image?.id ?? m.environment.runtime],
  ];
  const differs: string[] = [];
  for (const [name, get] of facets) {
    const a = JSON.stringify(get(first));
    const other = rest.find((m) => JSON.stringify(get(m)) !== a);
    if (other) differs.push(`${name} (${first.runId} and ${other.runId})`);
  }
  if (differs.length)
    throw new UsageError(
      "not-a-seed-matrix",
      `the candidate runs differ in more than their seed: ${differs.join(", ")}; compare one candidate's runs (the same code, data, params and image) at a time`,
    );
}

/** Provenance facts of a run from its verified record: signature, bags (when asked), reproductions. */
export async function provenanceOf(
  reader: LedgerReader,
  run: LoadedRun,
  checkData: boolean,
  where: DataPlaces = {},
): Promise<ProvenanceFacts> {
  const dataChanges = checkData ? await dataChangesOf(reader, run, where) : undefined;
  const reproductions = (await reader.reproductionsOf(run)).filter(
    (r) => r.counts && (r.verdict === "bitwise" || r.verdict === "within-tolerance"),
  ).length;
  const invalidatedBy = describeMarks((await reader.invalidations()).marks.get(runNode(run.runId)));
  return {
    signed: run.trust === "verified",
    ...(dataChanges ? { dataValid: dataChanges.length === 0 } : {}),
    ...(dataChanges?.length ? { dataChanges } : {}),
    reproductions,
    ...(invalidatedBy.length ? { invalidatedBy } : {}),
  };
}

/** Each bag that no longer validates with its recorded digest, naming the files that changed. */
async function dataChangesOf(reader: LedgerReader, run: LoadedRun, where: DataPlaces): Promise<DataChange[]> {
  const out: DataChange[] = [];
  for (const d of run.manifest.data) {
    // A location relative to the repository, an absolute path, or (a URL) the content cache by digest.
    const local = d.location ? resolveDataLocation(d.location, where.repo ?? ".") : undefined;
    const cached = where.cacheDir ? cachedBagPath(where.cacheDir, d.digest) : undefined;
    const path = local ?? (cached && existsSync(cached) ? cached : undefined);
    if (!path) {
      out.push({
        name: d.name,
        reason: d.location
          ? `${d.location} is not here and no cached copy of ${d.digest} is`
          : "no location was recorded",
      });
      continue;
    }
    let pin: Awaited<ReturnType<typeof pinData>>;
    try {
      pin = await pinData(path);
    } catch (e) {
      out.push({ name: d.name, reason: `${d.location}: ${(e as Error).message}` });
      continue;
    }
    if (pin.digest === d.digest) continue;
    const recorded = (await reader.payloadManifests(run.manifest))[d.name];
    if (!recorded) {
      out.push({
        name: d.name,
        reason: `${d.location} has digest ${pin.digest}, the record says ${d.digest}`,
      });
      continue;
    }
    const c = diffPayloadManifests(recorded, pin.manifest);
    out.push({
      name: d.name,
      changed: c.changed.map((x) => x.path),
      added: c.added,
      removed: c.removed,
      ...(c.changed.length + c.added.length + c.removed.length === 0
        ? { reason: "its metadata (bag-info.txt) changed" }
        : {}),
    });
  }
  return out;
}

/** Where a command finds recorded data: the repository (relative locations) and the content cache. */
export interface DataPlaces {
  repo?: string;
  cacheDir?: string;
}

export interface CompareOutcome {
  verdict: GateVerdict;
  production?: ProductionPointer;
  diff?: RunDiff;
  history: Record<string, HistoryPoint[]>;
  /** Records shown marked: unsigned or untrusted candidates, history points left out. */
  notes: string[];
  /** Each candidate's seed, in the verdict's order (a seed matrix reads by them). */
  seeds: Array<number | undefined>;
}

/** The baseline: the verified head of the production chain, or a run named by the user. */
async function baselineOf(
  reader: LedgerReader,
  policy: Policy,
  baseline: string | undefined,
): Promise<LoadedRun | undefined> {
  if (baseline && baseline !== "production") {
    const run = await loadRun(reader, baseline);
    if (policy.provenance?.signed && run.trust !== "verified")
      throw new CheckFailedError(
        "baseline-not-verified",
        `baseline run ${baseline} is ${run.trust}: a decision rests only on records signed by a trusted key or identity (${run.problems.join("; ")})`,
      );
    return run;
  }
  return (await reader.productionRun(policy.model)) as LoadedRun | undefined;
}

/** The gate for candidates against production (or a given baseline run), with what changed and the history charts need. */
export async function compareWithProduction(o: {
  reader: LedgerReader;
  policy: Policy;
  candidates: readonly string[];
  baseline?: string;
  repo?: string;
  cacheDir?: string;
}): Promise<CompareOutcome> {
  const chain = await o.reader.production(o.policy.model);
  const candidates = await Promise.all(o.candidates.map((id) => loadRun(o.reader, id)));
  assertSeedMatrix(candidates.map((c) => c.manifest));
  const notes = candidates
    .filter((c) => c.trust !== "verified")
    .map((c) => `candidate ${c.runId} is ${c.trust}: ${c.problems.join("; ")}`);
  const withFacts = await Promise.all(
    candidates.map(async (c) => ({
      manifest: c.manifest,
      provenance: await provenanceOf(o.reader, c, Boolean(o.policy.provenance?.data_valid), {
        ...(o.repo ? { repo: o.repo } : {}),
        ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      }),
    })),
  );
  const base = await baselineOf(o.reader, o.policy, o.baseline);
  const verdict = evaluateGate(o.policy, withFacts, base ? [base.manifest] : []);
  // A production derived from an invalidated input is flagged, whatever the candidate.
  const warnings = productionWarnings(await o.reader.invalidations(), o.policy.model);
  if (warnings.length) verdict.warnings = warnings;
  const history = await historyOf(o.reader, o.policy, chain, verdict, notes);
  const diff =
    base && candidates[0]
      ? await diffRecorded(o.reader, base.manifest, candidates[0].manifest, o.repo)
      : undefined;
  return {
    verdict,
    ...(chain.head ? { production: chain.head.pointer } : {}),
    ...(diff ? { diff } : {}),
    history,
    notes,
    seeds: candidates.map((c) => c.manifest.invocation.seed),
  };
}

/** Each gated metric over the verified promotion history, then the candidate. */
async function historyOf(
  reader: LedgerReader,
  policy: Policy,
  chain: Awaited<ReturnType<LedgerReader["production"]>>,
  verdict: GateVerdict,
  notes: string[],
): Promise<Record<string, HistoryPoint[]>> {
  const promoted: Array<{ p: ProductionPointer; manifest: RunManifest }> = [];
  for (const { pointer: p } of chain.promotions) {
    try {
      promoted.push({
        p,
        manifest: (await reader.promotedRun(policy.model, p.runId, p.manifestDigest)).manifest!,
      });
    } catch (e) {
      notes.push(`history: promotion #${p.seq} left out: ${(e as Error).message}`);
    }
  }
  const history: Record<string, HistoryPoint[]> = {};
  for (const key of Object.keys(policy.metrics ?? {})) {
    const points: HistoryPoint[] = [];
    for (const { p, manifest } of promoted) {
      const v = metricValue(manifest, key);
      if (v !== undefined) points.push({ label: `#${p.seq}`, value: v, seq: p.seq });
    }
    const mean = verdict.metrics.find((m) => m.name === key)?.candidate.mean;
    if (mean !== undefined) points.push({ label: "candidate", value: mean, candidate: true });
    history[key] = points;
  }
  return history;
}

export interface Promoter {
  actor?: string;
  workflowRun?: string;
  environment?: string;
}

async function signedPointer(pointer: ProductionPointer, signing: SigningPlan): Promise<string> {
  if (signing.unsigned || (!signing.key && !signing.keyless))
    throw new UsageError(
      "unsigned-promotion",
      "a promotion record must be signed (it is a link of production's signed chain): give --key or --keyless",
    );
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
  notes: string[];
}

/** The verified chain of a model, with what a killed writer left repaired first (writers only). */
async function chainForWriting(store: LedgerStore, reader: LedgerReader, model: string) {
  const chain = await reader.production(model);
  if (chain.interrupted || chain.leftovers.length) await store.repair(model, chain.head?.pointer);
  return chain;
}

/** Re-verifies and re-gates against the production of now, then one compare-and-swap of the chain's head. */
export async function promoteRun(o: {
  store: LedgerStore;
  trust: Trust;
  policy: Policy;
  runId: string;
  signing: SigningPlan;
  by: Promoter;
  now?: Date;
  /** Where recorded data is found for the data_valid rule (default: the working folder). */
  repo?: string;
  cacheDir?: string;
  /** The local index of verified records (run-index.ts). */
  index?: RunIndex;
}): Promise<PromotionResult> {
  const model = assertName("model", o.policy.model, "policy model");
  assertName("run", o.runId, "promote RUN");
  const reader = await LedgerReader.open(o.store, o.trust, o.index ? { index: o.index } : {});
  const chain = await chainForWriting(o.store, reader, model);
  const current = chain.head;
  const outcome = await compareWithProduction({
    reader,
    policy: o.policy,
    candidates: [o.runId],
    ...(o.repo ? { repo: o.repo } : {}),
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
  });
  const notes = outcome.notes;
  if (!outcome.verdict.pass)
    return { promoted: false, verdict: outcome.verdict, reason: "the gate does not pass", notes };
  if (current?.pointer.runId === o.runId)
    return {
      promoted: false,
      verdict: outcome.verdict,
      reason: `${o.runId} is already in production`,
      notes,
    };
  const run = await loadRun(reader, o.runId);
  const pointer: ProductionPointer = {
    model,
    runId: o.runId,
    manifestDigest: run.manifestDigest!,
    seq: (current?.pointer.seq ?? 0) + 1,
    kind: "promotion",
    promotedAt: (o.now ?? new Date()).toISOString(),
    promotedBy: o.by,
    previous: current
      ? { runId: current.pointer.runId, manifestDigest: current.pointer.manifestDigest }
      : null,
    previousRecord: current?.recordDigest ?? null,
  };
  if (!(await o.store.appendPromotion(model, pointer, await signedPointer(pointer, o.signing)))) {
    const now = (
      await (await LedgerReader.open(o.store, o.trust, o.index ? { index: o.index } : {})).production(model)
    ).head?.pointer;
    return {
      promoted: false,
      verdict: outcome.verdict,
      reason: `production of ${model} changed while promoting (now ${now?.runId ?? "none"}, #${now?.seq ?? 0}); compare again and promote again`,
      notes,
    };
  }
  return { promoted: true, pointer, verdict: outcome.verdict, notes };
}

/** Restores the previous production as a new promotion (kind rollback), by the same compare-and-swap. */
export async function rollbackModel(o: {
  store: LedgerStore;
  trust: Trust;
  model: string;
  signing: SigningPlan;
  by: Promoter;
  now?: Date;
  /** The local index: records verified before are not read again. */
  index?: RunIndex;
}): Promise<ProductionPointer> {
  const model = assertName("model", o.model, "--model");
  const reader = await LedgerReader.open(o.store, o.trust, o.index ? { index: o.index } : {});
  const current = (await chainForWriting(o.store, reader, model)).head;
  if (!current)
    throw new UsageError("nothing-in-production", `model ${model} has nothing in production to roll back`);
  const previous = current.pointer.previous;
  if (!previous)
    throw new CheckFailedError(
      "no-previous",
      `model ${model} has only ever had ${current.pointer.runId} in production: there is nothing to roll back to`,
    );
  await reader.promotedRun(model, previous.runId, previous.manifestDigest);
  const pointer: ProductionPointer = {
    model,
    runId: previous.runId,
    manifestDigest: previous.manifestDigest,
    seq: current.pointer.seq + 1,
    kind: "rollback",
    promotedAt: (o.now ?? new Date()).toISOString(),
    promotedBy: o.by,
    previous: { runId: current.pointer.runId, manifestDigest: current.pointer.manifestDigest },
    previousRecord: current.recordDigest,
  };
  if (!(await o.store.appendPromotion(model, pointer, await signedPointer(pointer, o.signing))))
    throw new CheckFailedError(
      "production-changed",
      `production of ${model} changed during the rollback; look at it again`,
    );
  return pointer;
}
