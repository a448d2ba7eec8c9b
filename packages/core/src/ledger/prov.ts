// One W3C PROV-JSON document for many runs: a whole lineage, or every verified run of a ledger.
// Each run's own document (manifest/export.ts: toProvJson) is merged as it is (its entity ids sit
// under the run's id; agents shared by runs appear once), then the joins the lineage graph makes
// between runs are added: the data a run read was derived from the outputs of the run that wrote
// it (wasDerivedFrom), and a run was informed by the runs it read from, followed or reproduced
// (wasInformedBy). Pure: it is given records the reader already verified.
import type { RunManifest } from "../__generated__/index.js";
import { outputFolderIdentities } from "../bag/identity.js";
import { toProvJson } from "../manifest/export.js";
import { dataNode, type LineageGraph, type NodeId, runNode } from "./graph.js";

type Records = Record<string, Record<string, unknown>>;

/** PROV-JSON's bundles of records, in the order they are written. */
const KINDS = [
  "entity",
  "activity",
  "agent",
  "used",
  "wasGeneratedBy",
  "wasAssociatedWith",
  "wasDerivedFrom",
  "wasInformedBy",
] as const;
type Kind = (typeof KINDS)[number];

export interface ProvDocument {
  prefix: Record<string, string>;
  entity: Records;
  activity: Records;
  agent: Records;
  used: Records;
  wasGeneratedBy: Records;
  wasAssociatedWith: Records;
  wasDerivedFrom: Records;
  wasInformedBy: Records;
}

const activityOf = (runId: string) => `trun:run/${encodeURIComponent(runId)}`;

/** A run's output entities (id, path, sha256) as its own PROV document names them. */
function outputEntities(
  doc: ReturnType<typeof toProvJson>,
): Array<{ id: string; path: string; sha256: string }> {
  return Object.entries(doc.entity).flatMap(([id, e]) =>
    (e["prov:type"] as { $?: string } | undefined)?.$ === "trun:Output"
      ? [{ id, path: String(e["prov:label"]), sha256: String(e["trun:sha256"]) }]
      : [],
  );
}

/**
 * The runs' PROV documents as one, with the links between them that the graph joins. Relations
 * keep their blank ids made unique per run (`_:RUN/u0`); links between runs are `_:link0`, ….
 */
export function lineageProv(manifests: readonly RunManifest[], graph: LineageGraph): ProvDocument {
  const doc: ProvDocument = {
    prefix: {},
    entity: {},
    activity: {},
    agent: {},
    used: {},
    wasGeneratedBy: {},
    wasAssociatedWith: {},
    wasDerivedFrom: {},
    wasInformedBy: {},
  };
  const byRun = new Map<string, { manifest: RunManifest; prov: ReturnType<typeof toProvJson> }>();
  const sorted = [...manifests].sort((a, b) => a.runId.localeCompare(b.runId));
  for (const m of sorted) {
    if (byRun.has(m.runId)) continue;
    const prov = toProvJson(m);
    byRun.set(m.runId, { manifest: m, prov });
    Object.assign(doc.prefix, prov.prefix);
    const own = prov as unknown as Partial<Record<Kind, Records>>;
    for (const kind of KINDS) {
      for (const [id, value] of Object.entries(own[kind] ?? {})) {
        if (id.startsWith("_:")) doc[kind][`_:${encodeURIComponent(m.runId)}/${id.slice(2)}`] = value;
        else if (!(id in doc[kind])) doc[kind][id] = value;
      }
    }
  }

  let n = 0;
  const link = (kind: "wasDerivedFrom" | "wasInformedBy", value: Record<string, unknown>) => {
    doc[kind][`_:link${n++}`] = value;
  };
  const node = (id: NodeId) => graph.nodes.get(id);
  const included = (id: NodeId) => {
    const r = node(id);
    return r?.kind === "run" && r.runId && byRun.has(r.runId) ? r.runId : undefined;
  };

  for (const { manifest: m } of byRun.values()) {
    const informants = new Map<string, string | undefined>();
    for (const d of m.data) {
      const identity = d.payloadIdentity ?? d.digest;
      const dataEntity = `${activityOf(m.runId)}/data/${encodeURIComponent(d.name)}`;
      const derived = (used: string, writer: string) =>
        link("wasDerivedFrom", {
          "prov:generatedEntity": dataEntity,
          "prov:usedEntity": used,
          "prov:activity": activityOf(writer),
        });
      for (const parent of graph.parents.get(dataNode(identity)) ?? []) {
        const writer = included(parent);
        if (writer) {
          // The data is that run's outputs, or one folder of them: derived from each file in it.
          const w = byRun.get(writer)!;
          const folders = outputFolderIdentities(w.manifest.outputs);
          const folder =
            d.fromRun?.runId === writer
              ? (d.fromRun.path ?? "")
              : [...folders].find(([, id]) => id === identity)?.[0];
          for (const o of outputEntities(w.prov))
            if (folder === undefined || folder === "" || o.path.startsWith(`${folder}/`))
              derived(o.id, writer);
          informants.set(writer, undefined);
          continue;
        }
        // A file a run wrote, packed into this data.
        const file = node(parent);
        if (file?.kind !== "file") continue;
        for (const grand of graph.parents.get(parent) ?? []) {
          const fileWriter = included(grand);
          if (!fileWriter) continue;
          const hex = parent.slice("file:".length);
          for (const o of outputEntities(byRun.get(fileWriter)!.prov))
            if (o.sha256.replace(/^sha256:/, "") === hex) derived(o.id, fileWriter);
          informants.set(fileWriter, undefined);
        }
      }
    }
    // Runs joined without data between them: a parent run named in the links, the run reproduced.
    for (const parent of graph.parents.get(runNode(m.runId)) ?? []) {
      const from = included(parent);
      if (!from || informants.has(from)) continue;
      informants.set(from, node(runNode(m.runId))?.reproductionOf === from ? "trun:Reproduction" : undefined);
    }
    informants.delete(m.runId);
    for (const [from, type] of informants)
      link("wasInformedBy", {
        "prov:informed": activityOf(m.runId),
        "prov:informant": activityOf(from),
        ...(type ? { "prov:type": { $: type, type: "prov:QUALIFIED_NAME" } } : {}),
      });
  }
  return doc;
}
