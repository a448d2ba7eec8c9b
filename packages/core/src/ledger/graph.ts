// The lineage of a ledger as a graph: runs, the data they read and wrote, their output files, their
// promotions and their reproductions. Pure: it is built from records the reader already verified.
// Edges point from what was used to what was derived, so descendants are everything an input
// reached (any number of hops) and ancestors everything an output came from.
import { outputFolderIdentities } from "../bag/identity.js";
import { UsageError } from "../errors.js";
import type { ProductionChain } from "./chain.js";
import type { RunRecord } from "./records.js";

/** "run:<runId>", "data:sha256:<hex>" (payload identity, else bag digest), "file:<sha256 hex>", "promotion:<model>#<seq>". */
export type NodeId = string;

export interface LineageNode {
  id: NodeId;
  kind: "run" | "data" | "file" | "promotion";
  label: string;
  runId?: string;
  /** A run's record trust (verified, unsigned, untrusted); a promotion from a verified chain is verified. */
  trust?: string;
  /** A run's model; a promotion's model. */
  model?: string;
  /** A run that reproduces another: the other run. */
  reproductionOf?: string;
  /** A data node: the bag digests ("sha256:…") it was read as. */
  digests?: string[];
  /** A data node: the data names runs read it under. */
  names?: string[];
  /** A file node: the paths it was written or packed under. */
  paths?: string[];
  /** A file known only as a member of a bag (no run wrote it). */
  inBagOnly?: boolean;
  /** Derived from an invalidated input: each input with its record and reason (set by invalidation.ts). */
  invalidated?: string[];
}

export interface LineageGraph {
  nodes: Map<NodeId, LineageNode>;
  children: Map<NodeId, Set<NodeId>>;
  parents: Map<NodeId, Set<NodeId>>;
  /**
   * Edges "file → the bag that holds it" ("FROM\0TO"): a bag holds a file with those bytes, which
   * says nothing of where the bag came from. Followed only from a file itself, never on the way
   * from a run (whose output may share its bytes with an older bag's file).
   */
  contains?: Set<string>;
}

/** An output file as a manifest lists it (path relative to the outputs folder). */
export interface OutputLike {
  path: string;
  sha256: string;
}

export interface LineageOptions {
  /**
   * The payload identity ("sha256:…") a bag of these outputs would have: a run whose outputs have
   * the identity of a data node gets an edge to it.
   */
  outputsIdentity?: (outputs: readonly OutputLike[]) => string;
  /** The identity of each sub-folder of the outputs: a bag made from one of them is derived from the run too. */
  outputFolderIdentities?: (outputs: readonly OutputLike[]) => ReadonlyMap<string, string>;
}

// The run-side fields, read defensively: records made before them lack them.
interface DataExtras {
  payloadIdentity?: string;
  fromRun?: { runId?: string; path?: string };
}
interface LinkExtras {
  parentRuns?: string[];
  parentRun?: string;
  reproductionOf?: string;
}

const HEX = /^[0-9a-f]{64}$/;

export const runNode = (runId: string): NodeId => `run:${runId}`;
export const fileNode = (hex: string): NodeId => `file:${hex}`;
export const dataNode = (identity: string): NodeId => `data:${identity}`;
export const promotionNode = (model: string, seq: number): NodeId => `promotion:${model}#${seq}`;

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

/** A set of files as one comparable key (paths without a bag's leading "data/"). */
function filesKey(files: ReadonlyArray<OutputLike>, stripData: boolean): string {
  return files
    .map((f) => `${f.sha256.replace(/^sha256:/, "")}  ${stripData ? f.path.replace(/^data\//, "") : f.path}`)
    .sort()
    .join("\n");
}

/** The lines of a BagIt payload manifest ("<hex>  data/<path>") as files; other lines are skipped. */
export function parsePayloadManifest(text: string): Array<{ path: string; sha256: string }> {
  const out: Array<{ path: string; sha256: string }> = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64})\s+(.+)$/.exec(line.trim());
    if (m) out.push({ sha256: m[1]!.toLowerCase(), path: m[2]! });
  }
  return out;
}

export function buildLineage(
  records: readonly RunRecord[],
  chains: ReadonlyMap<string, ProductionChain>,
  payloadFiles?: ReadonlyMap<string, ReadonlyArray<{ path: string; sha256: string }>>,
  options: LineageOptions = {},
): LineageGraph {
  const g: LineageGraph = { nodes: new Map(), children: new Map(), parents: new Map() };
  const add = (n: LineageNode): LineageNode => {
    const had = g.nodes.get(n.id);
    if (had) return had;
    g.nodes.set(n.id, n);
    return n;
  };
  const edge = (from: NodeId, to: NodeId) => {
    if (from === to) return;
    const c = g.children.get(from) ?? new Set<NodeId>();
    g.children.set(from, c.add(to));
    const p = g.parents.get(to) ?? new Set<NodeId>();
    g.parents.set(to, p.add(from));
  };
  const pushUnique = (xs: string[] | undefined, x: string): string[] => {
    const a = xs ?? [];
    if (!a.includes(x)) a.push(x);
    return a;
  };

  const usable = records.filter((r) => r.trust !== "damaged" && r.manifest);
  const known = new Set(usable.map((r) => r.runId));

  // Runs first, so every edge between runs finds both ends.
  for (const r of usable) {
    const m = r.manifest!;
    const links = (m.links ?? {}) as LinkExtras;
    const reproductionOf = r.reproduction?.of ?? links.reproductionOf;
    add({
      id: runNode(r.runId),
      kind: "run",
      label: `${r.runId} (${m.model})`,
      runId: r.runId,
      trust: r.trust,
      model: m.model,
      ...(reproductionOf ? { reproductionOf } : {}),
    });
  }

  // Data read, outputs written.
  const dataByFiles = new Map<string, NodeId>();
  for (const r of usable) {
    const m = r.manifest!;
    const run = runNode(r.runId);
    for (const d of m.data) {
      const x = d as typeof d & DataExtras;
      const identity = x.payloadIdentity ?? d.digest;
      const id = dataNode(identity);
      const n = add({ id, kind: "data", label: d.name });
      n.digests = pushUnique(n.digests, d.digest);
      n.names = pushUnique(n.names, d.name);
      n.label = `${n.names.join(", ")} ${short(identity)}`;
      edge(id, run);
      const from = x.fromRun?.runId;
      if (from && known.has(from)) edge(runNode(from), id);
    }
    for (const o of m.outputs) {
      const id = fileNode(o.sha256);
      const n = add({ id, kind: "file", label: o.path });
      delete n.inBagOnly;
      n.paths = pushUnique(n.paths, o.path);
      n.label = n.paths.join(", ");
      edge(run, id);
    }
  }

  // Files inside bags: each file → the bag that holds it; a bag whose files are a run's outputs.
  if (payloadFiles) {
    for (const [id, files] of payloadFiles) {
      const n = g.nodes.get(id);
      if (n?.kind !== "data") continue;
      for (const f of files) {
        const hex = f.sha256.replace(/^sha256:/, "").toLowerCase();
        const path = f.path.replace(/^data\//, "");
        const fn = add({ id: fileNode(hex), kind: "file", label: path, inBagOnly: true });
        fn.paths = pushUnique(fn.paths, path);
        fn.label = fn.paths.join(", ");
        edge(fn.id, id);
        g.contains ??= new Set();
        g.contains.add(`${fn.id}\0${id}`);
      }
      if (files.length) dataByFiles.set(filesKey(files, true), id);
    }
  }

  // A run whose outputs are (by identity, or file for file) a data node's payload produced it.
  for (const r of usable) {
    const m = r.manifest!;
    if (!m.outputs.length) continue;
    const run = runNode(r.runId);
    const byFiles = dataByFiles.get(filesKey(m.outputs, false));
    if (byFiles) edge(run, byFiles);
    const identities = new Set<string>();
    const signed = (m as { outputsIdentity?: string }).outputsIdentity;
    if (signed) identities.add(signed);
    if (options.outputsIdentity) identities.add(options.outputsIdentity(m.outputs));
    for (const [, identity] of (options.outputFolderIdentities ?? outputFolderIdentities)(m.outputs))
      identities.add(identity);
    for (const identity of identities) if (g.nodes.has(dataNode(identity))) edge(run, dataNode(identity));
  }

  // Runs named as parents; reproductions.
  for (const r of usable) {
    const m = r.manifest!;
    const run = runNode(r.runId);
    const links = (m.links ?? {}) as LinkExtras;
    const parents = [...(links.parentRuns ?? []), ...(links.parentRun ? [links.parentRun] : [])];
    for (const p of parents) {
      if (!known.has(p)) continue;
      // Already linked through the data it wrote and this run read: no second edge.
      const viaData = [...(g.children.get(runNode(p)) ?? [])].some(
        (c) => g.nodes.get(c)?.kind === "data" && g.children.get(c)?.has(run),
      );
      if (!viaData) edge(runNode(p), run);
    }
    const of = g.nodes.get(run)?.reproductionOf;
    if (of && known.has(of)) edge(runNode(of), run);
  }

  // Promotions: the run promoted (or rolled back to) → the promotion.
  for (const [model, chain] of chains) {
    for (const p of chain.promotions) {
      const ptr = p.pointer;
      if (!known.has(ptr.runId)) continue;
      const id = promotionNode(model, ptr.seq);
      add({
        id,
        kind: "promotion",
        label: `${model} #${ptr.seq} ${ptr.kind}${chain.head?.pointer.seq === ptr.seq ? " (production)" : ""}`,
        runId: ptr.runId,
        model,
        trust: "verified",
      });
      edge(runNode(ptr.runId), id);
    }
  }
  return g;
}

/** An edge a run's record states, as the index keeps it: `run`'s parent (in) or child (out) `node`. */
export interface RunLink {
  run: string;
  node: NodeId;
  dir: "in" | "out";
  /** A data node: the bag digest ("sha256:…") it was read as. */
  digest?: string;
}

/**
 * The edges buildLineage() draws from one record alone (everything but bag members, promotions and
 * the data nodes matched by their files): what the index keeps so a lineage walks from run to run
 * without building the whole graph (walk.ts).
 */
export function runLinks(
  r: RunRecord,
  folderIdentities: LineageOptions["outputFolderIdentities"] = outputFolderIdentities,
): RunLink[] {
  const m = r.manifest;
  if (!m || r.trust === "damaged") return [];
  const out: RunLink[] = [];
  for (const d of m.data) {
    const x = d as typeof d & DataExtras;
    const node = dataNode(x.payloadIdentity ?? d.digest);
    out.push({ run: r.runId, node, dir: "in", digest: d.digest });
    if (x.fromRun?.runId) out.push({ run: x.fromRun.runId, node, dir: "out" });
  }
  for (const o of m.outputs) out.push({ run: r.runId, node: fileNode(o.sha256), dir: "out" });
  const identities = new Set<string>();
  const signed = (m as { outputsIdentity?: string }).outputsIdentity;
  if (signed) identities.add(signed);
  if (m.outputs.length) for (const [, identity] of folderIdentities(m.outputs)) identities.add(identity);
  for (const identity of identities) out.push({ run: r.runId, node: dataNode(identity), dir: "out" });
  const links = (m.links ?? {}) as LinkExtras;
  const reproductionOf = r.reproduction?.of ?? links.reproductionOf;
  for (const p of [...(links.parentRuns ?? []), ...(links.parentRun ? [links.parentRun] : [])])
    out.push({ run: r.runId, node: runNode(p), dir: "in" });
  if (reproductionOf) out.push({ run: r.runId, node: runNode(reproductionOf), dir: "in" });
  return out;
}

function walk(
  next: Map<NodeId, Set<NodeId>>,
  g: LineageGraph,
  id: NodeId,
  skip: (from: NodeId, to: NodeId) => boolean = () => false,
): NodeId[] {
  const seen = new Set<NodeId>([id]);
  const out: NodeId[] = [];
  const queue: NodeId[] = [id];
  for (let i = 0; i < queue.length; i++) {
    for (const n of next.get(queue[i]!) ?? []) {
      if (seen.has(n) || !g.nodes.has(n) || skip(queue[i]!, n)) continue;
      seen.add(n);
      out.push(n);
      queue.push(n);
    }
  }
  return out;
}

/** Everything derived from id, any number of hops (breadth first, id itself left out). */
export function descendants(g: LineageGraph, id: NodeId): NodeId[] {
  return walk(g.children, g, id, (from, to) => from !== id && Boolean(g.contains?.has(`${from}\0${to}`)));
}

/** Everything id was derived from, any number of hops (breadth first, id itself left out). */
export function ancestors(g: LineageGraph, id: NodeId): NodeId[] {
  return walk(g.parents, g, id);
}

/**
 * What a user names: a run id, a sha256 (hex or sha256:hex) of a file, a bag digest or a payload
 * identity → the node ids it names (a digest may name a file and a bag; none when no record knows
 * it). A node id ("run:…", "promotion:model#seq") is taken as is. Exit 2 when it is neither a
 * digest nor a recorded run.
 */
export function resolveNodes(g: LineageGraph, ref: string): NodeId[] {
  const s = ref.trim();
  const hex = s.replace(/^sha256:/i, "").toLowerCase();
  if (HEX.test(hex)) {
    const digest = `sha256:${hex}`;
    const out: NodeId[] = [];
    if (g.nodes.has(fileNode(hex))) out.push(fileNode(hex));
    if (g.nodes.has(dataNode(digest))) out.push(dataNode(digest));
    for (const n of g.nodes.values())
      if (n.kind === "data" && n.digests?.includes(digest) && !out.includes(n.id)) out.push(n.id);
    return out;
  }
  if (g.nodes.has(s) && /^(run|data|file|promotion):/.test(s)) return [s];
  const run = runNode(s.replace(/^run:/, ""));
  if (g.nodes.has(run)) return [run];
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(s.replace(/^run:/, "")))
    throw new UsageError(
      "no-such-run",
      `"${ref}" is not a run of the ledger (nor a usable record of one); name a recorded run (see \`track-run log\`) or a sha256 digest`,
    );
  throw new UsageError(
    "usage",
    `"${ref}" is neither a run id nor a sha256 digest (64 hex digits, optionally sha256:…); name a run (see \`track-run log\`), an output file's sha256, a bag digest or a payload identity`,
  );
}
