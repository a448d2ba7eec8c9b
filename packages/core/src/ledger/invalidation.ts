// Invalidation: a signed record that an input (a bag, a file, a run) is bad, so everything derived
// from it (runs, outputs, models, promotions: its descendants in the lineage graph) is marked and
// refused by the gate; a later revalidation retracts it. Records live in the ledger's top-level
// folder invalidations/, one file each, never replaced. They are read like every other record: only
// a record signed by the trust policy counts; unsigned, untrusted and damaged ones are shown marked.
import { randomBytes } from "node:crypto";
import { CheckFailedError, UsageError } from "../errors.js";
import { type SigningPlan, signRecord } from "../sign/plan.js";
import { INVALIDATION_PREDICATE_TYPE, STATEMENT_TYPE, type Subject } from "../sign/statement.js";
import type { ProductionChain } from "./chain.js";
import {
  descendants,
  type LineageGraph,
  type NodeId,
  promotionNode,
  resolveNodes,
  runNode,
} from "./graph.js";
import { codeUnitOrder } from "./listing.js";
import { LedgerReader } from "./reader.js";
import { checkSignature, type RecordTrust, type SignatureVerdict, type Trust } from "./records.js";
import type { RunIndex } from "./run-index.js";
import type { LedgerSnapshot, LedgerStore } from "./types.js";

export { INVALIDATION_PREDICATE_TYPE };

/** The ledger folder of invalidation records. */
export const INVALIDATIONS_FOLDER = "invalidations";

export type InvalidationAction = "invalidate" | "revalidate";

/** The signed predicate of an invalidation record. */
export interface InvalidationPredicate {
  action: InvalidationAction;
  /** What the user named (a digest or a run id) and the lineage nodes it resolved to. */
  target: { ref: string; nodes: NodeId[] };
  reason: string;
  /** When (ISO 8601, UTC). */
  at: string;
  by: { actor?: string; workflowRun?: string };
}

export interface InvalidationRecord {
  /** The file name under invalidations/. */
  name: string;
  /** "invalidations/<name>". */
  path: string;
  /** Where it is, as people read it. */
  where: string;
  trust: RecordTrust;
  /** Only a verified record counts. */
  counts: boolean;
  predicate?: InvalidationPredicate;
  signer?: string;
  problems: string[];
}

/** A mark on a derived node: the invalidated input it derives from, and the record that says so. */
export interface InvalidationMark {
  input: NodeId;
  record: InvalidationRecord & { predicate: InvalidationPredicate };
}

export interface Invalidations {
  /** Every record of the folder, counting or not, in order (by `at`, then name; unreadable ones last). */
  records: InvalidationRecord[];
  /** Each node invalidated now: the latest counting record naming it, when that record invalidates. */
  standing: Map<NodeId, InvalidationMark["record"]>;
  /** Each node derived from a standing invalidation (the invalidated node itself included). */
  marks: Map<NodeId, InvalidationMark[]>;
  /** Production heads derived from an invalidated input, as warnings naming the model, the run and the record. */
  production: Array<{ model: string; runId: string; seq: number; marks: InvalidationMark[] }>;
}

const NODE = /^(run|data|file|promotion):\S+$/;

function predicateProblems(p: unknown, where: string): string[] {
  const x = p as Partial<InvalidationPredicate> | undefined;
  const out: string[] = [];
  if (x?.action !== "invalidate" && x?.action !== "revalidate")
    out.push(`${where}: its action is neither invalidate nor revalidate`);
  if (typeof x?.target?.ref !== "string") out.push(`${where}: it names no target`);
  const nodes = x?.target?.nodes;
  if (
    !Array.isArray(nodes) ||
    nodes.length === 0 ||
    !nodes.every((n) => typeof n === "string" && NODE.test(n))
  )
    out.push(`${where}: its target nodes are not a list of lineage node ids`);
  if (typeof x?.reason !== "string" || !x.reason.trim()) out.push(`${where}: it gives no reason`);
  if (typeof x?.at !== "string" || Number.isNaN(Date.parse(x.at)))
    out.push(`${where}: its time is not a date`);
  return out;
}

/** Every record of invalidations/, each verified against the trust policy. */
export async function readInvalidationRecords(
  s: LedgerSnapshot,
  trust: Trust,
  memo?: Map<string, Promise<SignatureVerdict>>,
): Promise<InvalidationRecord[]> {
  const out: InvalidationRecord[] = [];
  for (const name of await s.listFolder(INVALIDATIONS_FOLDER)) {
    const path = `${INVALIDATIONS_FOLDER}/${name}`;
    const where = s.describe(path);
    const damaged = (problems: string[]): InvalidationRecord => ({
      name,
      path,
      where,
      trust: "damaged",
      counts: false,
      problems,
    });
    let body: Buffer | undefined;
    try {
      body = await s.readFolderFile(INVALIDATIONS_FOLDER, name);
    } catch (e) {
      out.push(damaged([(e as Error).message]));
      continue;
    }
    if (!body) {
      out.push(damaged([`${where} cannot be read`]));
      continue;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString("utf8"));
    } catch (e) {
      out.push(damaged([`${where} is not JSON (${(e as Error).message})`]));
      continue;
    }
    const v = await checkSignature(doc, trust, INVALIDATION_PREDICATE_TYPE, where, memo);
    if (v.trust === "damaged" || !v.statement) {
      out.push(damaged(v.problems));
      continue;
    }
    const predicate = v.statement.predicate as unknown as InvalidationPredicate;
    const problems = predicateProblems(predicate, where);
    if (problems.length) {
      out.push(damaged([...v.problems, ...problems]));
      continue;
    }
    out.push({
      name,
      path,
      where,
      trust: v.trust,
      counts: v.trust === "verified",
      predicate,
      ...(v.signer ? { signer: v.signer } : {}),
      problems: v.problems,
    });
  }
  return out.sort(byTime);
}

function byTime(a: InvalidationRecord, b: InvalidationRecord): number {
  const ta = a.predicate ? Date.parse(a.predicate.at) : Number.POSITIVE_INFINITY;
  const tb = b.predicate ? Date.parse(b.predicate.at) : Number.POSITIVE_INFINITY;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return codeUnitOrder(a.name, b.name);
}

/** Per node, the latest counting record naming it wins: the nodes whose latest record invalidates. */
export function standingInvalidations(
  records: readonly InvalidationRecord[],
): Map<NodeId, InvalidationMark["record"]> {
  const latest = new Map<NodeId, InvalidationMark["record"]>();
  for (const r of [...records].sort(byTime)) {
    if (!r.counts || !r.predicate) continue;
    for (const n of r.predicate.target.nodes) latest.set(n, r as InvalidationMark["record"]);
  }
  for (const [n, r] of latest) if (r.predicate.action !== "invalidate") latest.delete(n);
  return latest;
}

/** Every node derived from a standing invalidation (its descendants, and the node itself). */
export function markDerived(
  g: LineageGraph | undefined,
  standing: ReadonlyMap<NodeId, InvalidationMark["record"]>,
): Map<NodeId, InvalidationMark[]> {
  const marks = new Map<NodeId, InvalidationMark[]>();
  for (const [input, record] of standing) {
    for (const n of [input, ...(g ? descendants(g, input) : [])]) {
      const list = marks.get(n) ?? [];
      if (!list.some((m) => m.input === input && m.record === record)) list.push({ input, record });
      marks.set(n, list);
    }
  }
  return marks;
}

/** An invalidated input as people read it: "sha256:ab12… (invalidations/NAME: reason)". */
export function describeMark(m: InvalidationMark): string {
  const p = m.record.predicate;
  // The input as the record's author named it (a bag digest, a run id), else its node id.
  const input = p.target.nodes.includes(m.input) ? p.target.ref : m.input;
  return `${input} (invalidated by ${m.record.path}: ${p.reason})`;
}

/** The marks of a node, deduplicated, as people read them. */
export const describeMarks = (marks: readonly InvalidationMark[] | undefined): string[] => [
  ...new Set((marks ?? []).map(describeMark)),
];

/** Marks each node of a lineage graph derived from an invalidated input (what `lineage` shows). */
export function markLineage(g: LineageGraph, inv: Invalidations): void {
  for (const [id, marks] of inv.marks) {
    const n = g.nodes.get(id);
    if (n) n.invalidated = describeMarks(marks);
  }
}

/**
 * The invalidations of the ledger at the reader's snapshot: every record (verified once), what
 * stands, and every node derived from what stands. The graph is built only when something stands.
 */
export async function readInvalidations(
  reader: LedgerReader,
  memo?: Map<string, Promise<SignatureVerdict>>,
): Promise<Invalidations> {
  const records = await readInvalidationRecords(reader.snapshot, reader.trust, memo);
  const standing = standingInvalidations(records);
  if (standing.size === 0) return { records, standing, marks: new Map(), production: [] };
  // What derives from the standing inputs (walked from them by the index where it can).
  const g = (await reader.lineageFor([...standing.keys()], "down")).graph;
  const marks = markDerived(g, standing);
  const production = (await productionHeads(reader, g, (n) => marks.has(n))).map((p) => ({
    ...p,
    marks: marks.get(promotionNode(p.model, p.seq)) ?? marks.get(runNode(p.runId)) ?? [],
  }));
  return { records, standing, marks, production };
}

/** The production heads (verified chains) whose promotion or run is one of the nodes `derived` picks. */
async function productionHeads(
  reader: LedgerReader,
  g: LineageGraph,
  derived: (n: NodeId) => boolean,
): Promise<Array<{ model: string; runId: string; seq: number }>> {
  const models = new Set<string>();
  for (const n of g.nodes.values()) if (n.kind === "promotion" && n.model) models.add(n.model);
  const out: Array<{ model: string; runId: string; seq: number }> = [];
  for (const model of [...models].sort()) {
    let head: ProductionChain["head"];
    try {
      head = (await reader.production(model)).head;
    } catch {
      continue;
    }
    if (!head) continue;
    const p = head.pointer;
    if (derived(promotionNode(model, p.seq)) || derived(runNode(p.runId)))
      out.push({ model, runId: p.runId, seq: p.seq });
  }
  return out;
}

/** "production of MODEL (run RUN, #SEQ) is derived from an invalidated input: …" */
export function productionWarnings(inv: Invalidations, model?: string): string[] {
  return inv.production
    .filter((p) => model === undefined || p.model === model)
    .map(
      (p) =>
        `production of ${p.model} (run ${p.runId}, promotion #${p.seq}) is derived from an invalidated input: ${describeMarks(p.marks).join("; ")}`,
    );
}

/** A record shown but not counted, as people read it. */
export function describeUncounted(r: InvalidationRecord): string {
  const what = r.predicate ? `${r.predicate.action} ${r.predicate.target.ref}` : "a record";
  return `${r.where} (${what}) is ${r.trust.toUpperCase()}: shown, but it does not count (${r.problems.join("; ")})`;
}

/** The in-toto statement of an invalidation record: its subjects are the digests it names. */
export function invalidationStatement(
  predicate: InvalidationPredicate,
  manifestDigestOf: (runId: string) => string | undefined,
) {
  const subject: Subject[] = [];
  for (const n of predicate.target.nodes) {
    const hex = /^(?:data:sha256:|file:)([0-9a-f]{64})$/.exec(n)?.[1];
    if (hex) subject.push({ name: n, digest: { sha256: hex } });
    const run = /^run:(.+)$/.exec(n)?.[1];
    const digest = run ? manifestDigestOf(run) : undefined;
    if (run && digest)
      subject.push({ name: `runs/${run}/manifest.json`, digest: { sha256: digest.replace(/^sha256:/, "") } });
  }
  return { _type: STATEMENT_TYPE, subject, predicateType: INVALIDATION_PREDICATE_TYPE, predicate };
}

/** The file name of a new record: the UTC time, then 6 random hex digits (names sort by time). */
export function invalidationFileName(at: string, random = randomBytes(3).toString("hex")): string {
  return `${at.replace(/[-:]/g, "")}-${random}.sigstore.json`;
}

export interface InvalidationResult {
  /** Where the record was written. */
  where: string;
  path: string;
  predicate: InvalidationPredicate;
  /** The runs derived from the target (the target's own run included), and production heads among them. */
  runs: string[];
  production: Array<{ model: string; runId: string; seq: number }>;
}

/**
 * Writes a signed invalidation (or revalidation) record for what `ref` names (a run id, or a sha256
 * of a bag, a payload identity or a file). Exit 2 when it names nothing recorded, or (revalidate)
 * when nothing it names is invalidated.
 */
export async function recordInvalidation(o: {
  store: LedgerStore;
  trust: Trust;
  /** The local index: records verified before are not read again. */
  index?: RunIndex;
  action: InvalidationAction;
  ref: string;
  reason: string;
  by: InvalidationPredicate["by"];
  signing: SigningPlan;
  now?: Date;
}): Promise<InvalidationResult> {
  const reason = o.reason.trim();
  if (!reason) throw new UsageError("usage", `--reason must say why the input is ${o.action}d`);
  if (o.signing.unsigned || (!o.signing.key && !o.signing.keyless))
    throw new UsageError(
      "unsigned-invalidation",
      `an ${o.action === "invalidate" ? "invalidation" : "revalidation"} record must be signed: give --key or --keyless`,
    );
  const reader = await LedgerReader.open(o.store, o.trust, o.index ? { index: o.index } : {});
  const g = (await reader.lineage()).graph;
  const nodes = resolveNodes(g, o.ref);
  if (nodes.length === 0)
    throw new UsageError(
      "not-in-ledger",
      `"${o.ref}" is no file, bag or payload identity of any recorded run in ${reader.uri}; see \`track-run lineage\``,
    );
  if (o.action === "revalidate") {
    const standing = standingInvalidations(await readInvalidationRecords(reader.snapshot, reader.trust));
    if (!nodes.some((n) => standing.has(n)))
      throw new UsageError(
        "not-invalidated",
        `"${o.ref}" is not invalidated: there is nothing to revalidate`,
      );
  }
  const at = (o.now ?? new Date()).toISOString();
  const predicate: InvalidationPredicate = {
    action: o.action,
    target: { ref: o.ref, nodes },
    reason,
    at,
    by: o.by,
  };
  const runs = await reader.runs();
  const digests = new Map(runs.map((r) => [r.runId, r.manifestDigest]));
  const statement = invalidationStatement(predicate, (id) => digests.get(id));
  const signed = await signRecord(statement as never, o.signing);
  const body = `${JSON.stringify(signed.document, null, 2)}\n`;
  let name = invalidationFileName(at);
  // A name is never reused: another random suffix when it is taken.
  for (let i = 0; !(await o.store.putFolderFile(INVALIDATIONS_FOLDER, name, body)); i++) {
    if (i >= 4)
      throw new CheckFailedError(
        "name-taken",
        `could not find a free record name in ${INVALIDATIONS_FOLDER}/`,
      );
    name = invalidationFileName(at);
  }
  const derived = new Set<NodeId>();
  for (const n of nodes) for (const d of [n, ...descendants(g, n)]) derived.add(d);
  const production = await productionHeads(reader, g, (n) => derived.has(n));
  const path = `${INVALIDATIONS_FOLDER}/${name}`;
  return {
    where: reader.snapshot.describe(path),
    path,
    predicate,
    runs: [...derived].filter((n) => n.startsWith("run:")).map((n) => n.slice(4)),
    production,
  };
}
