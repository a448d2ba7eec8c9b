// The lineage of a ledger read through the verified reader, and what a command shows of it: a
// tree for the terminal, nodes and edges for --json, a Mermaid flowchart for GitHub.

import type { ProductionChain } from "./chain.js";
import {
  ancestors,
  buildLineage,
  dataNode,
  descendants,
  type LineageGraph,
  type LineageNode,
  type NodeId,
  parsePayloadManifest,
} from "./graph.js";
import type { LedgerReader } from "./reader.js";
import type { RunRecord } from "./records.js";

/**
 * The lineage graph of the whole ledger, or of `only` these records (walk.ts); notes name what could
 * not be read (a broken promotion chain).
 */
export async function readLineage(
  reader: LedgerReader,
  only?: readonly RunRecord[],
): Promise<{ graph: LineageGraph; notes: string[] }> {
  const notes: string[] = [];
  const records = only ?? (await reader.runs());
  const chains = new Map<string, ProductionChain>();
  const payloadFiles = new Map<string, Array<{ path: string; sha256: string }>>();
  for (const r of records) {
    const m = r.manifest;
    if (!m || r.trust === "damaged") continue;
    if (!chains.has(m.model)) {
      try {
        chains.set(m.model, await reader.production(m.model));
      } catch (e) {
        notes.push((e as Error).message);
        chains.set(m.model, { model: m.model, promotions: [], interrupted: false, leftovers: [] });
      }
    }
    if (!m.data.some((d) => d.payloadManifest)) continue;
    const payloadManifests = await reader.payloadManifests(m);
    for (const d of m.data) {
      const text = payloadManifests[d.name];
      if (text === undefined) continue;
      const id = dataNode((d as { payloadIdentity?: string }).payloadIdentity ?? d.digest);
      if (!payloadFiles.has(id)) payloadFiles.set(id, parsePayloadManifest(text));
    }
  }
  return { graph: buildLineage(records, chains, payloadFiles), notes };
}

export type { Direction } from "./walk.js";

import type { Direction } from "./walk.js";

export interface LineageView {
  roots: NodeId[];
  nodes: LineageNode[];
  edges: Array<{ from: NodeId; to: NodeId }>;
}

/** The part of the graph a command shows: the roots, their ancestors (up), their descendants (down). */
export function lineageView(g: LineageGraph, roots: readonly NodeId[], direction: Direction): LineageView {
  const up = new Set<NodeId>(roots);
  const down = new Set<NodeId>(roots);
  for (const r of roots) {
    if (direction !== "down") for (const a of ancestors(g, r)) up.add(a);
    if (direction !== "up") for (const d of descendants(g, r)) down.add(d);
  }
  const keep = new Set<NodeId>([...up, ...down]);
  const edges: LineageView["edges"] = [];
  for (const from of keep)
    for (const to of g.children.get(from) ?? [])
      if ((up.has(from) && up.has(to)) || (down.has(from) && down.has(to))) edges.push({ from, to });
  return { roots: [...roots], nodes: [...keep].map((id) => g.nodes.get(id)!), edges };
}

const mark = (n: LineageNode) =>
  n.trust && n.trust !== "verified" && n.kind === "run" ? ` [${n.trust.toUpperCase()}]` : "";

/** A node as one line of text (with its invalidation mark, when it is derived from an invalidated input). */
export function describeNode(n: LineageNode): string {
  const text = nodeText(n);
  return n.invalidated?.length ? `${text} [INVALIDATED: derived from ${n.invalidated.join("; ")}]` : text;
}

function nodeText(n: LineageNode): string {
  switch (n.kind) {
    case "run":
      return `run ${n.label}${n.reproductionOf ? `, reproduces ${n.reproductionOf}` : ""}${mark(n)}`;
    case "data":
      return `data ${n.label}`;
    case "file":
      return `file ${n.label} ${n.id.slice(5, 17)}`;
    case "promotion":
      return `promotion ${n.label}`;
  }
}

/** Files known only as members of a bag, with nothing before them: shown as a count. */
const bagMember = (g: LineageGraph, id: NodeId) =>
  g.nodes.get(id)?.inBagOnly === true && !(g.parents.get(id)?.size ?? 0);

/** The lineage as an indented tree: what each root came from (up), then what came from it (down). */
export function lineageTree(g: LineageGraph, roots: readonly NodeId[], direction: Direction): string {
  const lines: string[] = [];
  const walk = (id: NodeId, next: Map<NodeId, Set<NodeId>>, depth: number, seen: Set<NodeId>) => {
    const kids = [...(next.get(id) ?? [])].filter((k) => g.nodes.has(k));
    const members = next === g.parents ? kids.filter((k) => bagMember(g, k)) : [];
    for (const k of kids) {
      if (members.includes(k)) continue;
      const n = g.nodes.get(k)!;
      const again = seen.has(k);
      lines.push(
        `${"  ".repeat(depth)}${next === g.parents ? "<- " : "-> "}${describeNode(n)}${again ? " (see above)" : ""}`,
      );
      if (again) continue;
      seen.add(k);
      walk(k, next, depth + 1, seen);
    }
    if (members.length)
      lines.push(
        `${"  ".repeat(depth)}<- ${members.length} file${members.length === 1 ? "" : "s"} of the bag`,
      );
  };
  for (const r of roots) {
    const n = g.nodes.get(r);
    if (!n) continue;
    if (lines.length) lines.push("");
    lines.push(describeNode(n));
    if (direction !== "down") {
      const seen = new Set<NodeId>([r]);
      const before = lines.length;
      walk(r, g.parents, 1, seen);
      if (lines.length === before) lines.push("  (nothing recorded before it)");
    }
    if (direction !== "up") {
      const seen = new Set<NodeId>([r]);
      const before = lines.length;
      walk(r, g.children, 1, seen);
      if (lines.length === before) lines.push("  (nothing recorded derived from it)");
    }
  }
  return lines.join("\n");
}

/** Text Mermaid reads inside a quoted label: no quotes, brackets, pipes, angle brackets or control characters. */
const mermaidText = (s: string) => s.replace(/[^A-Za-z0-9 ._:/#@,+=()'-]/g, "_").slice(0, 120);

/** A Mermaid flowchart of a view that GitHub renders: `flowchart LR`, one shape per kind, quoted labels. */
export function lineageMermaid(g: LineageGraph, view: LineageView): string {
  const ids = new Map<NodeId, string>();
  const out = ["flowchart LR"];
  const hidden = new Set(view.nodes.filter((n) => bagMember(g, n.id)).map((n) => n.id));
  const members = new Map<NodeId, number>();
  for (const e of view.edges) if (hidden.has(e.from)) members.set(e.to, (members.get(e.to) ?? 0) + 1);
  for (const n of view.nodes) {
    if (hidden.has(n.id)) continue;
    const id = `n${ids.size}`;
    ids.set(n.id, id);
    let label = mermaidText(describeNode(n));
    const count = members.get(n.id);
    if (count) label += ` (${count} file${count === 1 ? "" : "s"})`;
    const shape =
      n.kind === "run"
        ? `["${label}"]`
        : n.kind === "data"
          ? `[("${label}")]`
          : n.kind === "file"
            ? `[/"${label}"/]`
            : `{{"${label}"}}`;
    out.push(`  ${id}${shape}`);
  }
  for (const e of view.edges) {
    const a = ids.get(e.from);
    const b = ids.get(e.to);
    if (a && b) out.push(`  ${a} --> ${b}`);
  }
  const marked = view.nodes.filter((n) => ids.has(n.id) && mark(n)).map((n) => ids.get(n.id)!);
  const roots = view.roots.filter((r) => ids.has(r)).map((r) => ids.get(r)!);
  if (roots.length) out.push("  classDef root stroke-width:3px", `  class ${roots.join(",")} root`);
  if (marked.length)
    out.push(
      "  classDef unverified stroke-dasharray:5 5,stroke:#b60",
      `  class ${marked.join(",")} unverified`,
    );
  const invalidated = view.nodes
    .filter((n) => ids.has(n.id) && n.invalidated?.length)
    .map((n) => ids.get(n.id)!);
  if (invalidated.length)
    out.push("  classDef invalidated fill:#fdd,stroke:#c00", `  class ${invalidated.join(",")} invalidated`);
  return out.join("\n");
}
