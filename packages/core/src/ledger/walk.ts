// The lineage around some nodes without building the whole ledger's graph: the index keeps the
// edges each record states (graph.ts runLinks), so the runs a lineage reaches are found by walking
// those from run to run, and the graph is built (graph.ts buildLineage, as for the whole ledger)
// from those runs alone. Its ancestors and descendants of the roots are then those of the whole
// graph. Bag members are known only from payload manifests: the walk goes on from the files of bags
// it reached, and a lineage rooted at a file (which may be a bag member only) is left to the whole
// graph, as is everything without an index or with records made before payload identities.
import { ancestors, type LineageGraph, type NodeId, runNode } from "./graph.js";
import { readLineage } from "./lineage.js";
import type { LedgerReader } from "./reader.js";
import type { RunIndex } from "./run-index.js";
import type { RunListing } from "./run-listing.js";

export type Direction = "up" | "down" | "both";

const HEX = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

/**
 * What `ref` names, by the index: a usable run, or the data nodes of a payload identity or bag
 * digest. Undefined when the index cannot say (a file, a damaged or unknown run, anything else).
 */
async function resolve(index: RunIndex, runs: RunListing, ref: string): Promise<NodeId[] | undefined> {
  const s = ref.trim();
  const hex = HEX.exec(s)?.[1]?.toLowerCase();
  if (hex) {
    if (index.linksTo([`file:${hex}`], "out").length) return undefined;
    const data = `data:sha256:${hex}`;
    const nodes = new Set<NodeId>(index.dataOfDigest(`sha256:${hex}`));
    if (index.linksTo([data], "in").length || index.linksTo([data], "out").length) nodes.add(data);
    return nodes.size ? [...nodes] : undefined;
  }
  const id = s.replace(/^run:/, "");
  const e = await runs.get(id);
  return e && e.trust !== "damaged" ? [runNode(id)] : undefined;
}

/** The runs reached from `start` against the edges (up: what they came from; down: what came of them). */
function walkRuns(index: RunIndex, start: readonly NodeId[], up: boolean, runs: Set<string>): void {
  const seen = new Set<NodeId>(start);
  let queue = [...start];
  const reach = (n: NodeId) => {
    if (seen.has(n)) return;
    seen.add(n);
    queue.push(n);
  };
  while (queue.length) {
    const batch = queue;
    queue = [];
    const runNodes = batch.filter((n) => n.startsWith("run:"));
    const runIds = runNodes.map((n) => n.slice(4));
    const others = batch.filter((n) => !n.startsWith("run:"));
    for (const id of runIds) runs.add(id);
    if (up) {
      for (const l of index.linksOf(runIds, "in")) reach(l.node);
      for (const l of index.linksTo(others, "out")) reach(runNode(l.run));
    } else {
      for (const l of index.linksOf(runIds, "out")) reach(l.node);
      for (const l of index.linksTo(runNodes, "in")) reach(runNode(l.run));
      for (const l of index.linksTo(others, "in")) reach(runNode(l.run));
    }
  }
}

/**
 * The lineage graph of the runs `ref` reaches in `direction`, with the roots it names; undefined
 * when the index cannot answer (the caller builds the whole ledger's graph).
 */
export async function lineageNear(
  reader: LedgerReader,
  index: RunIndex,
  refOrRoots: string | readonly NodeId[],
  direction: Direction,
): Promise<{ graph: LineageGraph; roots: NodeId[]; notes: string[] } | undefined> {
  const listing = await reader.listing();
  // A ledger with records made before payload identities: only the whole graph links those.
  if (index.hasDataWithoutIdentity()) return undefined;
  const runs = new Set<string>();
  try {
    const roots =
      typeof refOrRoots === "string" ? await resolve(index, listing, refOrRoots) : [...refOrRoots];
    if (!roots || roots.some((n) => n.startsWith("file:"))) return undefined;
    if (direction !== "down") walkRuns(index, roots, true, runs);
    if (direction !== "up") walkRuns(index, roots, false, runs);
    // A data node is in the graph through the runs that read it.
    for (const l of index.linksTo(
      roots.filter((n) => !n.startsWith("run:")),
      "in",
    ))
      runs.add(l.run);
    for (;;) {
      const records = await reader.listed([...runs].filter((id) => listing.has(id)).sort());
      const { graph, notes } = await readLineage(reader, records);
      if (roots.some((r) => !graph.nodes.has(r))) return undefined;
      if (direction === "down") return { graph, roots, notes };
      // Files of bags reached upwards: what wrote them is upwards too.
      const files = roots.flatMap((r) => ancestors(graph, r)).filter((n) => n.startsWith("file:"));
      const more = index
        .linksTo(files, "out")
        .map((l) => l.run)
        .filter((id) => !runs.has(id) && listing.has(id));
      if (!more.length) return { graph, roots, notes };
      walkRuns(index, more.map(runNode), true, runs);
    }
  } catch {
    // The index failed under us: the whole graph answers.
    return undefined;
  }
}
