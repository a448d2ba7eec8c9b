// A project for the deploy checks (`verify-artifact`, actions/verify): model spam, each run writing
// a model file of its own bytes (model.bin holds the run's accuracy), recorded and signed by the
// CLI on the host runtime, one run promoted to production.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commitAll, writeTree } from "../../core/test/helpers.js";
import { hostTrainer, trackRun } from "./ledger-project.js";

export interface DeployProject {
  dir: string;
  /** Records a run whose model.bin is "model <accuracy>\n" (with extra `run` flags); returns its id. */
  train(accuracy: number, flags?: readonly string[]): string;
  /** The bytes a run trained at this accuracy wrote. */
  modelBytes(accuracy: number): string;
  /** track-run in the project; throws with its output when it fails. */
  ok(args: string[]): string;
  /** The run in production (at accuracy 0.85), promoted in environment production. */
  production: string;
}

/** `runFlags` go to every `track-run run` (e.g. `--artifacts oci://…`). */
export function deployProject(o: { runFlags?: string[] } = {}): DeployProject {
  const dir = mkdtempSync(join(tmpdir(), "track-run-deploy-project-"));
  writeTree(dir, {
    "data/rows.csv": "1\n2\n",
    ".gitignore": ".track-run/ledger/\n.track-run/keys/\n.track-run/work/\n.metrics.txt\n.acc\nout/\n",
    ".track-run/policy.yml": [
      "model: spam",
      "metrics:",
      "  accuracy: { direction: higher, min: 0.80, max_regression: 0.01 }",
      "provenance: { signed: true, clean_tree: true, data_valid: true }",
      "",
    ].join("\n"),
  });
  commitAll(dir);
  const ok = (args: string[]) => {
    const r = trackRun(dir, args);
    if (r.status !== 0)
      throw new Error(`track-run ${args.join(" ")}: exit ${r.status}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const modelBytes = (accuracy: number) => `model ${accuracy}\n`;
  const train = hostTrainer(dir, { modelBytes, runFlags: o.runFlags });
  const production = train(0.85);
  ok(["promote", production, "--model", "spam", "--environment", "production"]);
  return { dir, train, modelBytes, ok, production };
}
