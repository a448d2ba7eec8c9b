// A project with a ledger for the ledger commands' and the compare and promote actions' tests:
// runs recorded and signed by the CLI (host runtime: no engine needed), one promoted to production.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commitAll, writeTree } from "../../core/test/helpers.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;

export function trackRun(dir: string, args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8" });
}

/**
 * The arguments of `track-run run --json` recording a run of `model` (default spam) on the host
 * runtime that runs `script` in sh, with the data rows=data unless `data` is false; `flags` are
 * further `run` flags.
 */
export function hostRunArgs(
  script: string,
  o: { model?: string; data?: boolean; flags?: readonly string[] } = {},
): string[] {
  return [
    "run",
    "--json",
    ...(o.flags ?? []),
    "--model",
    o.model ?? "spam",
    "--runtime",
    "host",
    ...(o.data === false ? [] : ["--data", "rows=data"]),
    "--",
    "sh",
    "-c",
    script,
  ];
}

/**
 * Training of model spam in the project at `dir` on the host runtime: a run reports accuracy (and
 * each of `metrics` at 1) from .metrics.txt and writes the output model.bin, a copy of
 * data/rows.csv, or modelBytes(accuracy) by way of .acc when modelBytes is given (both files in
 * the project's .gitignore). `runFlags` go to every run, `flags` to one; returns the run's id.
 */
export function hostTrainer(
  dir: string,
  o: {
    metrics?: readonly string[];
    modelBytes?: (accuracy: number) => string;
    runFlags?: readonly string[];
  } = {},
): (accuracy: number, flags?: readonly string[]) => string {
  return (accuracy, flags = []) => {
    const lines = [
      `::track-run metric name=accuracy value=${accuracy}`,
      ...(o.metrics ?? []).map((m) => `::track-run metric name=${m} value=1`),
    ];
    writeFileSync(join(dir, ".metrics.txt"), `${lines.join("\n")}\n`);
    if (o.modelBytes) writeFileSync(join(dir, ".acc"), o.modelBytes(accuracy));
    const args = hostRunArgs(
      `cp ${o.modelBytes ? ".acc" : "data/rows.csv"} $TRACK_RUN_OUTPUTS/model.bin; cat .metrics.txt`,
      { flags: [...(o.runFlags ?? []), ...flags] },
    );
    const r = trackRun(dir, args);
    if (r.status !== 0)
      throw new Error(`track-run ${args.join(" ")}: exit ${r.status}\n${r.stdout}${r.stderr}`);
    return (JSON.parse(r.stdout) as { runId: string }).runId;
  };
}

export interface LedgerProject {
  dir: string;
  /** Records a run of model spam reporting accuracy (and each extra metric at 1); returns its id. */
  train(accuracy: number): string;
  /** The run in production (absent with promote: false). */
  production: string;
}

/**
 * Model spam, gated on accuracy (higher, min 0.80, regression at most 0.01) and provenance (signed,
 * clean tree, valid data), production at 0.85 (unless promote is false). Each run copies
 * data/rows.csv to the output model.bin.
 */
export function ledgerProject(o: { extraMetrics?: number; promote?: boolean } = {}): LedgerProject {
  const extraMetrics = o.extraMetrics ?? 0;
  const dir = mkdtempSync(join(tmpdir(), "track-run-ledger-project-"));
  const metrics = Array.from({ length: extraMetrics }, (_, i) => `m${String(i).padStart(4, "0")}`);
  writeTree(dir, {
    "data/rows.csv": "1\n2\n",
    ".gitignore": ".track-run/ledger/\n.track-run/keys/\n.track-run/work/\n.metrics.txt\n",
    ".track-run/policy.yml": [
      "model: spam",
      "metrics:",
      "  accuracy: { direction: higher, min: 0.80, max_regression: 0.01 }",
      ...metrics.map((m) => `  ${m}: { direction: lower, max_regression: 5% }`),
      "provenance: { signed: true, clean_tree: true, data_valid: true }",
      "",
    ].join("\n"),
  });
  commitAll(dir);
  const train = hostTrainer(dir, { metrics });
  if (o.promote === false) return { dir, train, production: "" };
  const production = train(0.85);
  const p = trackRun(dir, ["promote", production, "--model", "spam"]);
  if (p.status !== 0) throw new Error(p.stdout + p.stderr);
  return { dir, train, production };
}
