import { describe, expect, it } from "vitest";
import type { RunManifest } from "../../src/index.js";
import type { ProductionChain } from "../../src/ledger/chain.js";
import {
  ancestors,
  buildLineage,
  dataNode,
  descendants,
  fileNode,
  promotionNode,
  resolveNodes,
  runNode,
} from "../../src/ledger/graph.js";
import type { RunRecord } from "../../src/ledger/records.js";
import { sampleManifest } from "../sign/fixtures.js";

const hex = (c: string) => c.repeat(64);
const sha = (c: string) => `sha256:${hex(c)}`;

interface Step {
  runId: string;
  model: string;
  data: Array<Record<string, unknown>>;
  outputs: Array<{ path: string; sha256: string }>;
  extra?: Record<string, unknown>;
  links?: Record<string, unknown>;
  trust?: RunRecord["trust"];
}

function record(s: Step): RunRecord {
  const base = sampleManifest(s.outputs.map((o) => ({ ...o, size: 1 })));
  const manifest = {
    ...base,
    runId: s.runId,
    model: s.model,
    data: s.data.map((d) => ({ payloadOxum: "1.1", files: 1, bytes: 1, ...d })),
    ...(s.links ? { links: s.links } : {}),
    ...s.extra,
  } as RunManifest;
  const trust = s.trust ?? "verified";
  return {
    runId: s.runId,
    where: `runs/${s.runId}`,
    trust,
    problems: trust === "damaged" ? ["bundle.sigstore.json: edited"] : [],
    ...(trust === "damaged" ? {} : { manifest }),
  };
}

// Two dataset versions, each prepared then trained on then evaluated.
//   raw-v1 (bag R1, identity I1) → prep-1 → prepared-1 (identity P1, found by identity) → train-1 → model M1
//        → eval-1 (reads M1's bag, links.parentRuns) ; train-1 promoted and reproduced by repro-1
//   raw-v2 (bag R2, no identity: an old record) → prep-2 → prepared-2 (data[].fromRun) → train-2 (unsigned)
const records: RunRecord[] = [
  record({
    runId: "prep-1",
    model: "prepare",
    data: [{ name: "raw", digest: sha("1"), payloadIdentity: sha("a") }],
    outputs: [{ path: "train.csv", sha256: hex("3") }],
    extra: { outputsIdentity: sha("b") },
  }),
  record({
    runId: "train-1",
    model: "spam",
    data: [{ name: "train", digest: sha("4"), payloadIdentity: sha("b") }],
    outputs: [{ path: "model.bin", sha256: hex("5") }],
    links: { parentRuns: ["prep-1"] },
  }),
  record({
    runId: "eval-1",
    model: "spam-eval",
    data: [{ name: "model", digest: sha("6") }],
    outputs: [{ path: "report.json", sha256: hex("7") }],
    links: { parentRuns: ["train-1"] },
  }),
  record({
    runId: "repro-1",
    model: "spam",
    data: [{ name: "train", digest: sha("4"), payloadIdentity: sha("b") }],
    outputs: [{ path: "model.bin", sha256: hex("5") }],
    links: { reproductionOf: "train-1" },
  }),
  record({
    runId: "prep-2",
    model: "prepare",
    data: [{ name: "raw", digest: sha("2") }],
    outputs: [{ path: "train.csv", sha256: hex("8") }],
  }),
  record({
    runId: "train-2",
    model: "spam",
    data: [{ name: "train", digest: sha("9"), fromRun: { runId: "prep-2" } }],
    outputs: [{ path: "model.bin", sha256: hex("c") }],
    trust: "unsigned",
  }),
  record({
    runId: "broken",
    model: "spam",
    data: [{ name: "train", digest: sha("4") }],
    outputs: [],
    trust: "damaged",
  }),
];

const chains = new Map<string, ProductionChain>([
  [
    "spam",
    {
      model: "spam",
      promotions: [
        {
          pointer: {
            model: "spam",
            runId: "train-1",
            manifestDigest: sha("d"),
            seq: 1,
            kind: "promotion",
            promotedAt: "2026-01-01T00:00:00Z",
            promotedBy: {},
            previous: null,
          },
          recordDigest: sha("e"),
        },
      ],
      interrupted: false,
      leftovers: [],
    } as ProductionChain,
  ],
]);
chains.get("spam")!.head = chains.get("spam")!.promotions[0]!;

// The verified payload manifests: raw-v1 holds emails.txt; the model bag (eval-1's input, an old
// record with no identity) holds exactly train-1's outputs.
const payloadFiles = new Map([
  [dataNode(sha("a")), [{ path: "data/emails.txt", sha256: hex("f") }]],
  [dataNode(sha("6")), [{ path: "data/model.bin", sha256: hex("5") }]],
]);

const g = buildLineage(records, chains, payloadFiles);

describe("lineage graph", () => {
  it("follows a prepare → train → evaluate pipeline down from the first raw dataset, any number of hops", () => {
    const down = descendants(g, dataNode(sha("a")));
    expect(down).toEqual(
      expect.arrayContaining([
        runNode("prep-1"),
        fileNode(hex("3")),
        dataNode(sha("b")),
        runNode("train-1"),
        fileNode(hex("5")),
        dataNode(sha("6")),
        runNode("eval-1"),
        fileNode(hex("7")),
        promotionNode("spam", 1),
        runNode("repro-1"),
      ]),
    );
    // Nothing of the second dataset version.
    for (const id of [runNode("prep-2"), runNode("train-2"), dataNode(sha("2"))])
      expect(down).not.toContain(id);
    // Breadth first: the nearer come first.
    expect(down.indexOf(runNode("prep-1"))).toBeLessThan(down.indexOf(runNode("eval-1")));
  });

  it("walks back from an evaluation's report to the raw dataset of its own version", () => {
    const up = ancestors(g, fileNode(hex("7")));
    expect(up).toEqual(
      expect.arrayContaining([
        runNode("eval-1"),
        dataNode(sha("6")),
        runNode("train-1"),
        dataNode(sha("b")),
        runNode("prep-1"),
        dataNode(sha("a")),
        fileNode(hex("f")),
      ]),
    );
    expect(up).not.toContain(runNode("prep-2"));
    expect(up).not.toContain(runNode("train-2"));
    // The reproduction wrote the same model bytes: it too produced the bag eval-1 read.
    expect(up).toContain(runNode("repro-1"));
  });

  it("links the second version's steps through data[].fromRun and a bag digest (no payload identity)", () => {
    expect(descendants(g, dataNode(sha("2")))).toEqual([
      runNode("prep-2"),
      fileNode(hex("8")),
      dataNode(sha("9")),
      runNode("train-2"),
      fileNode(hex("c")),
    ]);
    expect(ancestors(g, runNode("train-2"))).toEqual([
      dataNode(sha("9")),
      runNode("prep-2"),
      dataNode(sha("2")),
    ]);
  });

  it("does not add a parent edge where the parent is already linked through its data", () => {
    expect([...(g.children.get(runNode("prep-1")) ?? [])]).not.toContain(runNode("train-1"));
    // eval-1's bag matched train-1's outputs file for file, so parentRuns adds no second edge either.
    expect([...(g.children.get(runNode("train-1")) ?? [])]).toContain(dataNode(sha("6")));
    expect([...(g.children.get(runNode("train-1")) ?? [])]).not.toContain(runNode("eval-1"));
  });

  it("marks unsigned records, leaves damaged ones out, shows promotions and reproductions", () => {
    expect(g.nodes.get(runNode("train-2"))?.trust).toBe("unsigned");
    expect(g.nodes.get(runNode("train-1"))?.trust).toBe("verified");
    expect(g.nodes.has(runNode("broken"))).toBe(false);
    expect(g.nodes.get(promotionNode("spam", 1))?.label).toBe("spam #1 promotion (production)");
    expect(g.nodes.get(runNode("repro-1"))?.reproductionOf).toBe("train-1");
    expect([...(g.children.get(runNode("train-1")) ?? [])]).toContain(runNode("repro-1"));
  });

  it("finds the runs that used the bag holding a file", () => {
    const ids = resolveNodes(g, hex("f"));
    expect(ids).toEqual([fileNode(hex("f"))]);
    expect(descendants(g, ids[0]!)).toEqual(expect.arrayContaining([dataNode(sha("a")), runNode("prep-1")]));
  });

  it("resolves what a user names: a run, a file digest, a bag digest or a payload identity", () => {
    expect(resolveNodes(g, "train-1")).toEqual([runNode("train-1")]);
    expect(resolveNodes(g, `sha256:${hex("5")}`)).toEqual([fileNode(hex("5"))]);
    // A bag digest names the data node known by its payload identity.
    expect(resolveNodes(g, sha("1"))).toEqual([dataNode(sha("a"))]);
    expect(resolveNodes(g, sha("a").toUpperCase().replace("SHA256", "sha256"))).toEqual([dataNode(sha("a"))]);
    expect(resolveNodes(g, hex("0"))).toEqual([]);
    expect(() => resolveNodes(g, "no-such-run")).toThrow(/not a run of the ledger/);
    expect(() => resolveNodes(g, "../x")).toThrow(/neither a run id nor a sha256/);
    try {
      resolveNodes(g, "../x");
    } catch (e) {
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
  });

  it("finds a run's outputs by an identity function when the record predates outputsIdentity", () => {
    const g2 = buildLineage(records, new Map(), undefined, {
      outputsIdentity: (o) => (o[0]?.sha256 === hex("8") ? sha("9") : sha("0")),
    });
    expect([...(g2.parents.get(dataNode(sha("9"))) ?? [])]).toEqual([runNode("prep-2")]);
  });
});

describe("bytes shared by chance", () => {
  it("a run whose output has the bytes of a file in an older bag is not that bag's origin", () => {
    const older = record({
      runId: "train-old",
      model: "m",
      data: [{ name: "rows", digest: sha("7"), payloadIdentity: sha("8") }],
      outputs: [{ path: "model.bin", sha256: hex("5") }],
    });
    const copier = record({
      runId: "copier",
      model: "m",
      data: [{ name: "rows", digest: sha("7"), payloadIdentity: sha("8") }],
      // Its output has the bytes of rows.csv, a file of the bag both runs read.
      outputs: [{ path: "model.bin", sha256: hex("6") }],
    });
    const files = new Map([[dataNode(sha("8")), [{ path: "data/rows.csv", sha256: hex("6") }]]]);
    const g = buildLineage([older, copier], new Map(), files);
    expect(descendants(g, runNode("copier"))).not.toContain(runNode("train-old"));
    expect(descendants(g, runNode("copier"))).toEqual([fileNode(hex("6"))]);
    // Named by its bytes, the file still leads to the runs that read a bag holding it.
    expect(descendants(g, fileNode(hex("6")))).toEqual(
      expect.arrayContaining([runNode("train-old"), runNode("copier")]),
    );
  });
});
