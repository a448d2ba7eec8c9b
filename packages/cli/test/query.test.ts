// The questions asked across runs (docs/queries.md), each answered by one `track-run query` on a
// recorded ledger: a real pipeline of host runs. Two raw datasets are bagged with bag-info fields;
// a prepare run (its parameters from --params) turns each into a training set (its outputs); train
// runs read a training set with --data NAME=run:PREP, report a train/loss curve per epoch on stdout,
// a train/epoch_seconds curve as JSON lines into $TRACK_RUN_CURVES, validation measures, and write
// a model file.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { commitAll, writeTree } from "../../core/test/helpers.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
const cli = (dir: string, args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8" });

// Keeps rows at least min_length long (lower-cased when asked) as train/rows.csv.
const PREPARE = `import fs from "node:fs";
const p = JSON.parse(fs.readFileSync(process.env.TRACK_RUN_PARAMS, "utf8"));
const rows = fs.readFileSync(process.env.TRACK_RUN_DATA + "/raw/rows.csv", "utf8").split("\\n").filter((r) => r.length >= p.min_length);
fs.mkdirSync(process.env.TRACK_RUN_OUTPUTS + "/train", { recursive: true });
fs.writeFileSync(process.env.TRACK_RUN_OUTPUTS + "/train/rows.csv", rows.map((r) => (p.lowercase ? r.toLowerCase() : r)).join("\\n"));
`;

// Loss and epoch time given by the parameters, so every answer is known in advance.
const TRAIN = `import fs from "node:fs";
const p = JSON.parse(fs.readFileSync(process.env.TRACK_RUN_PARAMS, "utf8"));
for (let e = 1; e <= p.losses.length; e++) {
  console.log("::track-run metric name=loss value=" + p.losses[e - 1] + " step=" + e + " stage=train");
  fs.appendFileSync(process.env.TRACK_RUN_CURVES, JSON.stringify({ step: e, stage: "train", epoch_seconds: p.seconds[e - 1] }) + "\\n");
}
console.log("::track-run metric name=loss value=" + p.val_loss + " stage=validation");
console.log("::track-run metric name=accuracy value=" + p.val_accuracy + " stage=validation");
fs.writeFileSync(process.env.TRACK_RUN_OUTPUTS + "/model.bin", JSON.stringify(p));
`;

interface TrainParams {
  learning_rate: number;
  batch_size: number;
  losses: number[];
  seconds: number[];
  val_loss: number;
  val_accuracy: number;
}

const TRAINS: Record<"a" | "b" | "c" | "other", TrainParams> = {
  a: {
    learning_rate: 0.1,
    batch_size: 32,
    losses: [0.9, 0.5, 0.3],
    seconds: [2, 4, 6],
    val_loss: 0.35,
    val_accuracy: 0.91,
  },
  b: {
    learning_rate: 0.05,
    batch_size: 64,
    losses: [0.8, 0.4, 0.2, 0.25],
    seconds: [1, 1, 1.5, 2.5],
    val_loss: 0.22,
    val_accuracy: 0.94,
  },
  c: {
    learning_rate: 0.5,
    batch_size: 16,
    losses: [0.7, 0.6],
    seconds: [3, 5],
    val_loss: 0.61,
    val_accuracy: 0.8,
  },
  other: {
    learning_rate: 0.01,
    batch_size: 8,
    losses: [0.1],
    seconds: [9],
    val_loss: 0.05,
    val_accuracy: 0.99,
  },
};

interface Row {
  runId: string;
  model: string;
  params: Record<string, unknown>;
  metrics: Array<{ name: string; stage?: string; value: number }>;
  data: Array<{ name: string; payloadIdentity?: string; info?: Record<string, string[]> }>;
  values: Record<string, unknown>;
  group?: { key: string; value: unknown; runs: number };
}

let dir: string;
const runs = {} as Record<"prepCampos" | "prepSantos" | keyof typeof TRAINS, string>;
let campos: string; // the training set prepared from the Campos dataset (payload identity)
let modelB: string; // sha256 of run b's model.bin

function run(args: string[], script: string): string {
  const r = cli(dir, ["run", "--json", "--runtime", "host", ...args, "--", process.execPath, script]);
  if (r.status !== 0) throw new Error(r.stdout + r.stderr);
  return (JSON.parse(r.stdout) as { runId: string }).runId;
}

const manifestOf = (id: string) =>
  JSON.parse(readFileSync(join(dir, ".track-run/ledger/runs", id, "manifest.json"), "utf8"));

function query(args: string[]) {
  const text = cli(dir, ["query", ...args]);
  expect(text.status, text.stderr).toBe(0);
  const json = cli(dir, ["query", ...args, "--json"]);
  expect(json.status, json.stderr).toBe(0);
  return { text: text.stdout, rows: (JSON.parse(json.stdout) as { rows: Row[] }).rows };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "track-run-query-"));
  writeTree(dir, {
    "campos/rows.csv": "Spam Offer\nhi\nMeeting At Noon\n",
    "santos/rows.csv": "Cheap Pills\nok\nLunch Friday\nWin Now\n",
    "prepare.mjs": PREPARE,
    "train.mjs": TRAIN,
    "prep.json": JSON.stringify({ min_length: 3, lowercase: true }),
    "prep-santos.json": JSON.stringify({ min_length: 5, lowercase: false }),
    ...Object.fromEntries(Object.entries(TRAINS).map(([k, p]) => [`train-${k}.json`, JSON.stringify(p)])),
    ".gitignore": ".track-run/\nbag-*/\n",
  });
  commitAll(dir);
  for (const [name, basin] of [
    ["campos", "Campos"],
    ["santos", "Santos"],
  ] as const) {
    const bag = cli(dir, ["bag", "create", name, "--out", `bag-${name}`, "--info", `Basin=${basin}`]);
    if (bag.status !== 0) throw new Error(bag.stderr);
  }
  runs.prepCampos = run(
    ["--model", "prep", "--data", "raw=bag-campos", "--params", "prep.json"],
    "prepare.mjs",
  );
  runs.prepSantos = run(
    ["--model", "prep", "--data", "raw=bag-santos", "--params", "prep-santos.json"],
    "prepare.mjs",
  );
  for (const k of ["a", "b", "c"] as const)
    runs[k] = run(
      ["--model", "spam", "--data", `prepared=run:${runs.prepCampos}`, "--params", `train-${k}.json`],
      "train.mjs",
    );
  runs.other = run(
    ["--model", "spam-small", "--data", `prepared=run:${runs.prepSantos}`, "--params", "train-other.json"],
    "train.mjs",
  );
  campos = manifestOf(runs.prepCampos).outputsIdentity;
  modelB = createHash("sha256").update(JSON.stringify(TRAINS.b)).digest("hex");
}, 120_000);

describe("query: the questions across runs", () => {
  it("given a trained model: the preparation's parameters and the dataset's bag-info fields", () => {
    expect(manifestOf(runs.b).outputs.find((o: { path: string }) => o.path === "model.bin").sha256).toBe(
      modelB,
    );
    const { text, rows } = query(["--ancestor-of", modelB]);
    expect(rows.map((r) => r.runId).sort()).toEqual([runs.b, runs.prepCampos].sort());
    const prep = rows.find((r) => r.runId === runs.prepCampos)!;
    expect(prep.params).toEqual({ min_length: 3, lowercase: true });
    expect(prep.data).toEqual([
      expect.objectContaining({ name: "raw", info: expect.objectContaining({ Basin: ["Campos"] }) }),
    ]);
    // What a reader sees: the preparation run, its parameters, the raw data and its Basin.
    const block = text.split(/\n(?=\S)/).find((b) => b.startsWith(runs.prepCampos))!;
    expect(block).toContain("  params   lowercase=true min_length=3");
    expect(block).toMatch(/ {2}data {5}raw sha256:[0-9a-f]{64} {2}.*\bBasin=Campos\b/);
    expect(text).not.toContain(runs.prepSantos);
    expect(text).not.toContain("Basin=Santos");
  });

  it("given a training set: every hyperparameter and evaluation value of the model with the least loss", () => {
    const { text, rows } = query([`data=${campos}`, "--sort", "metric.validation/loss", "--limit", "1"]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.runId).toBe(runs.b);
    expect(rows[0]!.params).toMatchObject({ learning_rate: 0.05, batch_size: 64 });
    expect(rows[0]!.metrics).toEqual(
      expect.arrayContaining([
        { name: "loss", stage: "validation", value: 0.22 },
        { name: "accuracy", stage: "validation", value: 0.94 },
      ]),
    );
    expect(text).toContain(`${runs.b}  spam  succeeded`);
    expect(text).toMatch(/params {3}batch_size=64 learning_rate=0\.05 /);
    expect(text).toMatch(/metrics {2}.*validation\/loss=0\.22 validation\/accuracy=0\.94/);
    // The Santos model has a lower loss but another training set.
    expect(text).not.toContain(runs.other);
  });

  it("average, min and max time per epoch for the models trained on a dataset", () => {
    const aggs = ["mean", "min", "max"].flatMap((f) => ["--agg", `${f}:train/epoch_seconds`]);
    const { text, rows } = query([`data=${campos}`, ...aggs, "--sort", "run"]);
    const seen = (r: Row) => ["mean", "min", "max"].map((f) => r.values[`${f}:train/epoch_seconds`]);
    expect(Object.fromEntries(rows.map((r) => [r.runId, seen(r)]))).toEqual({
      [runs.a]: [4, 2, 6],
      [runs.b]: [1.5, 1, 2.5],
      [runs.c]: [4, 3, 5],
    });
    expect(text).toContain(
      "values   mean:train/epoch_seconds=1.5 min:train/epoch_seconds=1 max:train/epoch_seconds=2.5",
    );
    expect(text).not.toContain(runs.prepCampos); // no curve, but it is not trained on the set either
  });

  it("the minimum training loss per model with its hyperparameters and validation measures, best first", () => {
    const { text, rows } = query(["--model", "spam", "--sort", "min:train/loss", "--agg", "min:train/loss"]);
    expect(rows.map((r) => [r.runId, r.values["min:train/loss"]])).toEqual([
      [runs.b, 0.2],
      [runs.a, 0.3],
      [runs.c, 0.6],
    ]);
    const blocks = text.split(/\n(?=\S)/);
    expect(blocks.map((b) => b.split(" ")[0])).toEqual([runs.b, runs.a, runs.c]);
    expect(blocks[0]).toMatch(/params {3}batch_size=64 learning_rate=0\.05/);
    expect(blocks[0]).toMatch(/validation\/loss=0\.22 validation\/accuracy=0\.94/);
    expect(blocks[0]).toContain("values   min:train/loss=0.2");

    // One row per model: each model's best run, with how many runs it had.
    const grouped = query([
      "--group-by",
      "model",
      "--sort",
      "min:train/loss",
      "--agg",
      "min:train/loss",
      "status=succeeded",
      "model~spam",
    ]);
    expect(grouped.rows.map((r) => [r.runId, r.group?.runs, r.values["min:train/loss"]])).toEqual([
      [runs.other, 1, 0.1],
      [runs.b, 3, 0.2],
    ]);
    expect(grouped.text).toContain(`model=spam (3 runs, best shown): ${runs.b}  spam  succeeded`);
  });
});
