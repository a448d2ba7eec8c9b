// `track-run export prov --lineage DIGEST|RUN` and `--ledger-all`: one W3C PROV-JSON document of a
// whole lineage or of every verified run, on a ledger recorded by host runs (a prepare run, a train
// run reading its outputs with --data NAME=run:PREP, and a run of other data).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { commitAll, writeTree } from "../../core/test/helpers.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
const cli = (dir: string, args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8" });

interface Prov {
  entity: Record<string, Record<string, unknown>>;
  activity: Record<string, Record<string, unknown>>;
  agent: Record<string, unknown>;
  wasDerivedFrom: Record<string, Record<string, string>>;
  wasInformedBy: Record<string, Record<string, string>>;
}

let dir: string;
let prep: string;
let train: string;
let other: string;

function run(args: string[], command: string): string {
  const r = cli(dir, ["run", "--json", "--runtime", "host", ...args, "--", "sh", "-c", command]);
  if (r.status !== 0) throw new Error(r.stdout + r.stderr);
  return (JSON.parse(r.stdout) as { runId: string }).runId;
}

function exportProv(args: string[]): Prov {
  const r = cli(dir, ["export", "prov", ...args]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Prov;
}

const activity = (runId: string) => `trun:run/${runId}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "track-run-export-prov-"));
  writeTree(dir, { "raw/rows.csv": "a\nb\n", "other/rows.csv": "c\n", ".gitignore": ".track-run/\n" });
  commitAll(dir);
  prep = run(
    ["--model", "prep", "--data", "raw=raw"],
    'mkdir -p "$TRACK_RUN_OUTPUTS/train" && cp "$TRACK_RUN_DATA/raw/rows.csv" "$TRACK_RUN_OUTPUTS/train/rows.csv"',
  );
  train = run(
    ["--model", "spam", "--data", `prepared=run:${prep}`],
    'wc -l "$TRACK_RUN_DATA/prepared/train/rows.csv" > "$TRACK_RUN_OUTPUTS/model.bin"',
  );
  other = run(
    ["--model", "spam", "--data", "rows=other"],
    'cp other/rows.csv "$TRACK_RUN_OUTPUTS/model.bin"',
  );
}, 60_000);

describe("export prov of a lineage or of the whole ledger", () => {
  it("--lineage: the runs the graph reaches both ways, joined, and nothing else", () => {
    const model = JSON.parse(
      readFileSync(join(dir, ".track-run/ledger/runs", train, "manifest.json"), "utf8"),
    ).outputs[0].sha256 as string;
    for (const ref of [model, prep, train]) {
      const doc = exportProv(["--lineage", ref]);
      expect(Object.keys(doc.activity).sort()).toEqual([activity(prep), activity(train)].sort());
      expect(Object.keys(doc.entity)).toContain(`${activity(train)}/output/model.bin`);
      expect(Object.keys(doc.entity).some((e) => e.startsWith(activity(other)))).toBe(false);
      expect(Object.values(doc.wasDerivedFrom)).toContainEqual({
        "prov:generatedEntity": `${activity(train)}/data/prepared`,
        "prov:usedEntity": `${activity(prep)}/output/train/rows.csv`,
        "prov:activity": activity(prep),
      });
      expect(Object.values(doc.wasInformedBy)).toEqual([
        { "prov:informed": activity(train), "prov:informant": activity(prep) },
      ]);
      expect(Object.keys(doc.agent)).toEqual(["trun:runner/local"]);
    }
  });

  it("--ledger-all: every verified run in one document; --out writes it", () => {
    const doc = exportProv(["--ledger-all"]);
    expect(Object.keys(doc.activity).sort()).toEqual(
      [activity(prep), activity(train), activity(other)].sort(),
    );
    expect(Object.values(doc.wasInformedBy)).toHaveLength(1);
    const out = cli(dir, ["export", "prov", "--ledger-all", "--out", "ledger.prov.json"]);
    expect(out.status, out.stderr).toBe(0);
    expect(out.stderr).toContain("wrote ledger.prov.json (3 runs)");
    expect(JSON.parse(readFileSync(join(dir, "ledger.prov.json"), "utf8"))).toEqual(doc);
  });

  it("refuses what it cannot do with exit 2, one line naming it", () => {
    const cases: Array<[string[], string]> = [
      [["export", "slsa", "--lineage", prep], "export W3C PROV-JSON only"],
      [["export", "prov", "--lineage", prep, "--ledger-all"], "not both"],
      [["export", "prov", prep, "--ledger-all"], "not both"],
      [
        ["export", "prov", "--lineage", "f".repeat(64)],
        "no run, output or data of the ledger has this digest",
      ],
      [["export", "prov", "--lineage", "20990101-000000-abcdef"], "is not a run of the ledger"],
      [["export", "prov"], "export needs a RUN"],
    ];
    for (const [args, message] of cases) {
      const r = cli(dir, args);
      expect([r.status, r.stdout], args.join(" ")).toEqual([2, ""]);
      expect(r.stderr, args.join(" ")).toContain(message);
    }
  });
});
