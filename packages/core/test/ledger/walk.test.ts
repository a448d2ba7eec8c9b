// The index answers lineage and queries without reading the whole ledger (walk.ts, run-index.ts):
// on a recorded pipeline, every lineage it gives is the one the whole ledger's graph gives, and every
// query it narrows returns the rows a query over every run returns.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { outputsIdentity, payloadIdentity } from "../../src/bag/identity.js";
import {
  buildStatement,
  LedgerReader,
  type LedgerStore,
  lineageView,
  parseFilter,
  parseSort,
  queryRuns,
  RunIndex,
  type RunManifest,
  readPrivateKey,
  signStatement,
} from "../../src/index.js";
import type { Direction } from "../../src/ledger/walk.js";
import { tempDir } from "../helpers.js";
import { sampleManifest } from "../sign/fixtures.js";
import { ledgerSuite } from "./ledger-fixtures.js";

const suite = ledgerSuite("walk", ["k", "other"]);
const hex = (c: string) => c.repeat(64);
const sha = (c: string) => `sha256:${hex(c)}`;

/** The raw emails bag: one file, emails.txt, whose bytes a recorded run wrote. */
const rawManifest = `${hex("f")}  data/emails.txt\n`;
/** The raw bag's payload identity, and that of prep-1's outputs (the prepared set). */
const rawId = payloadIdentity(rawManifest);
const preparedId = outputsIdentity([{ path: "train.csv", sha256: hex("3") }]);
/** train-1's outputs as a bag, which eval-1 reads. */
const modelId = outputsIdentity([{ path: "model.bin", sha256: hex("5") }]);

interface Step {
  runId: string;
  data: Array<Record<string, unknown>>;
  outputs: Array<{ path: string; sha256: string }>;
  extra?: Record<string, unknown>;
  accuracy?: number;
  lr?: number | string;
  /** Steps of the train/loss curve. */
  loss?: number;
}

function manifestOf(s: Step): RunManifest {
  const base = sampleManifest(s.outputs.map((o) => ({ ...o, size: 1 })));
  return {
    ...base,
    runId: s.runId,
    data: s.data.map((d) => ({ payloadOxum: "1.1", files: 1, bytes: 1, ...d })) as RunManifest["data"],
    invocation: { ...base.invocation, params: { lr: s.lr ?? 0.1, net: { depth: 3 } } },
    metrics: {
      final: [{ name: "accuracy", value: s.accuracy ?? 0.5, stage: "test" }],
      ...(s.loss
        ? {
            curves: Array.from({ length: s.loss }, (_, step) => ({
              name: "loss",
              stage: "train",
              step,
              value: 1 / (step + 1),
            })),
          }
        : {}),
    },
    ...s.extra,
  } as RunManifest;
}

// make-emails writes emails.txt → (bag raw, holds emails.txt) → prep-1 → prepared (found by
// identity) → train-1 → eval-1 (parentRuns); repro-1 reproduces train-1; prep-2 → train-2 by
// data[].fromRun; lone has nothing to do with the rest.
const steps: Step[] = [
  {
    runId: "make-emails",
    data: [],
    outputs: [{ path: "emails.txt", sha256: hex("f") }],
    accuracy: 0.1,
    loss: 2,
  },
  {
    runId: "prep-1",
    data: [
      {
        name: "raw",
        digest: sha("1"),
        payloadIdentity: rawId,
        payloadManifest: createHash("sha256").update(rawManifest).digest("hex"),
      },
    ],
    outputs: [{ path: "train.csv", sha256: hex("3") }],
    extra: { outputsIdentity: preparedId },
    accuracy: 0.2,
    lr: "fast",
  },
  {
    runId: "train-1",
    data: [{ name: "train", digest: sha("4"), payloadIdentity: preparedId }],
    outputs: [{ path: "model.bin", sha256: hex("5") }],
    accuracy: 0.9,
    lr: 0.05,
    loss: 3,
  },
  {
    runId: "eval-1",
    data: [{ name: "model", digest: sha("6"), payloadIdentity: modelId }],
    outputs: [{ path: "report.json", sha256: hex("7") }],
    extra: { links: { parentRuns: ["train-1"] } },
    accuracy: 0.9,
  },
  {
    runId: "repro-1",
    data: [{ name: "train", digest: sha("4"), payloadIdentity: preparedId }],
    outputs: [{ path: "model.bin", sha256: hex("5") }],
    extra: { links: { reproductionOf: "train-1" } },
    accuracy: 0.85,
  },
  {
    runId: "prep-2",
    data: [{ name: "raw", digest: sha("2"), payloadIdentity: sha("a") }],
    outputs: [{ path: "train.csv", sha256: hex("8") }],
    accuracy: 0.7,
  },
  {
    runId: "train-2",
    data: [{ name: "train", digest: sha("9"), payloadIdentity: sha("b"), fromRun: { runId: "prep-2" } }],
    outputs: [{ path: "model.bin", sha256: hex("c") }],
    accuracy: 0.95,
  },
  { runId: "lone", data: [], outputs: [{ path: "x.bin", sha256: hex("e") }], accuracy: 0.95 },
];

async function recorded(extra: Step[] = []): Promise<LedgerStore> {
  const { store } = suite.open("dir");
  for (const s of [...steps, ...extra]) await suite.record(store, manifestOf(s));
  await store.putRunFile("prep-1", "data-raw.manifest-sha256.txt", rawManifest);
  return store;
}

/** A view as comparable sets: node ids and edges. */
function shape(v: ReturnType<typeof lineageView>) {
  return {
    nodes: v.nodes.map((n) => n.id).sort(),
    edges: v.edges.map((e) => `${e.from} -> ${e.to}`).sort(),
  };
}

describe("the index's lineage and queries", () => {
  it("give what the whole ledger gives: every run and data node, each direction", async () => {
    const store = await recorded();
    const cache = tempDir();
    const index = (await RunIndex.open(cache, store.uri))!;
    const whole = await LedgerReader.open(store, suite.trust());
    const refs = [...steps.map((s) => s.runId), rawId, sha("1"), preparedId, sha("4")];
    let walked = 0;
    for (const ref of refs)
      for (const direction of ["up", "down", "both"] as Direction[]) {
        const near = await LedgerReader.open(store, suite.trust(), { index });
        const got = await near.lineageFor(ref, direction);
        const all = await whole.lineage();
        const want = lineageView(all.graph, (await whole.lineageFor(ref, direction)).roots, direction);
        // The index answered (it did not fall back to the whole graph) and agrees with it.
        if (got.graph.nodes.size < all.graph.nodes.size) walked++;
        expect(shape(lineageView(got.graph, got.roots, direction)), `${ref} ${direction}`).toEqual(
          shape(want),
        );
      }
    expect(walked).toBeGreaterThan(20);
    // Up from prep-1: through the raw bag's member file to the run that wrote it.
    const up = await (await LedgerReader.open(store, suite.trust(), { index })).lineageFor("prep-1", "up");
    expect(lineageView(up.graph, up.roots, "up").nodes.map((n) => n.id)).toContain("run:make-emails");
    index.close();
  }, 60_000);

  it("leave a ledger with a record made before payload identities to the whole graph", async () => {
    // An old record: its bag known by digest only.
    const store = await recorded([
      {
        runId: "old-eval",
        data: [{ name: "model", digest: sha("d") }],
        outputs: [{ path: "r", sha256: hex("9") }],
      },
    ]);
    const index = (await RunIndex.open(tempDir(), store.uri))!;
    const whole = await LedgerReader.open(store, suite.trust());
    const all = await whole.lineage();
    for (const ref of ["train-1", "old-eval"]) {
      const got = await (await LedgerReader.open(store, suite.trust(), { index })).lineageFor(ref, "both");
      expect(got.graph.nodes.size).toBe(all.graph.nodes.size);
      expect(shape(lineageView(got.graph, got.roots, "both"))).toEqual(
        shape(lineageView(all.graph, (await whole.lineageFor(ref, "both")).roots, "both")),
      );
    }
    index.close();
  }, 60_000);

  it("narrow a query to the runs it can return, and return the same rows as over every run", async () => {
    const store = await recorded();
    const index = (await RunIndex.open(tempDir(), store.uri))!;
    const whole = await (await LedgerReader.open(store, suite.trust())).runs();
    const cases: Array<{ filters: string[]; sort?: string; limit?: number }> = [
      { filters: ["metric.test/accuracy>=0.85"], sort: "-metric.test/accuracy", limit: 2 },
      { filters: ["metric.test/accuracy>0.5"], sort: "metric.test/accuracy", limit: 1 },
      { filters: [], sort: "-metric.test/accuracy", limit: 3 },
      { filters: ["param.lr<0.1"], sort: "-param.lr", limit: 1 },
      { filters: ["param.lr=fast"] },
      { filters: ["param.net.depth=3", "metric.accuracy<0.3"], sort: "run" },
      { filters: ["param.lr!=0.1"], sort: "-metric.test/accuracy", limit: 2 },
      { filters: ["model~spam"], sort: "-param.lr", limit: 2 },
      // A run without a curve has count 0; min of a curve; names of Object.prototype are no labels.
      { filters: ["count:train/loss<1"] },
      { filters: ["count:train/loss=0"], sort: "run" },
      { filters: [], sort: "count:train/loss", limit: 1 },
      { filters: [], sort: "-count:train/loss", limit: 1 },
      { filters: ["min:train/loss<0.4"], sort: "-min:train/loss", limit: 1 },
      { filters: ["label.constructor>a"] },
    ];
    for (const c of cases) {
      const filters = c.filters.map(parseFilter);
      const sort = c.sort ? [parseSort(c.sort)] : [];
      const spec = { filters, ...(sort.length ? { sort } : {}), ...(c.limit ? { limit: c.limit } : {}) };
      const reader = await LedgerReader.open(store, suite.trust(), { index });
      const narrowed = await reader.queryCandidates(filters, {
        ...(sort[0] ? { sort: sort[0] } : {}),
        ...(c.limit ? { limit: c.limit } : {}),
        whole: true,
      });
      const rows = (records: typeof whole) => queryRuns(records, spec).map((r) => r.runId);
      expect(rows(narrowed), JSON.stringify(c)).toEqual(rows(whole));
      if (c.filters[0] === "metric.test/accuracy>=0.85") expect(narrowed.length).toBeLessThan(whole.length);
    }
    index.close();
  }, 60_000);

  it("a run with a curve of 200,000 steps is listed, queried and walked like any other", async () => {
    const { store } = suite.open("dir");
    await suite.record(
      store,
      manifestOf({ runId: "long", data: [], outputs: [{ path: "m", sha256: hex("1") }], loss: 200_000 }),
    );
    const index = (await RunIndex.open(tempDir(), store.uri))!;
    const reader = await LedgerReader.open(store, suite.trust(), { index });
    const [run] = await reader.runs();
    expect(run!.curveStats!["train/loss"]).toMatchObject({ count: 200_000, max: 1, last: 1 / 200_000 });
    const rows = queryRuns(await reader.queryCandidates([parseFilter("min:train/loss<0.001")]), {
      filters: [parseFilter("min:train/loss<0.001")],
    });
    expect(rows.map((r) => r.runId)).toEqual(["long"]);
    expect((await reader.lineageFor("long", "both")).roots).toEqual(["run:long"]);
    index.close();
  }, 60_000);

  it("a run rewritten in place after the index listed it is not shown as the record it was", async () => {
    const { store } = suite.open("dir");
    await suite.record(store, manifestOf({ runId: "x", data: [], outputs: [], accuracy: 0.5 }));
    await new Promise((r) => setTimeout(r, 2100));
    const index = (await RunIndex.open(tempDir(), store.uri))!;
    const first = await LedgerReader.open(store, suite.trust(), { index });
    const [listed] = await first.runs();
    expect(await first.changedSince(listed!)).toBeUndefined();
    // Rewritten in place (same inodes, the folder's stat unchanged), signed by a key the policy does not trust.
    const evil = manifestOf({ runId: "x", data: [], outputs: [], accuracy: 0.99 });
    const root = store.uri.slice(4);
    writeFileSync(join(root, "runs/x/manifest.json"), JSON.stringify(evil));
    writeFileSync(
      join(root, "runs/x/bundle.sigstore.json"),
      JSON.stringify(signStatement(buildStatement(evil), readPrivateKey(join(suite.keys, "other.key")))),
    );
    const reader = await LedgerReader.open(store, suite.trust(), { index });
    const [again] = await reader.runs();
    expect(again!.trust).toBe("verified");
    expect(await reader.changedSince(again!)).toMatch(
      /changed since the index listed it: it is untrusted now/,
    );
    index.close();
  }, 60_000);
});
