// Pipelines of runs at the command line (host runtime: no engine): a prepare run writes outputs, a
// train run reads them with --data prepared=run:PREP (or as a plain folder copied from them, linked
// by payload identity); labels from track-run.yml, the command and --label; bag-info fields of a bag
// made with `bag create --info`; output roles and `track: declared`.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commitAll, writeTree } from "../../core/test/helpers.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
const cli = (dir: string, args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8" });

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), "track-run-pipeline-"));
  writeTree(dir, {
    "raw/rows.csv": "id,text\n1,hello\n2,spam\n",
    ".gitignore": ".track-run/\ncopy/\nbag/\n",
  });
  commitAll(dir);
  return dir;
}

function run(dir: string, args: string[], command: string) {
  const r = cli(dir, ["run", "--json", "--runtime", "host", ...args, "--", "sh", "-c", command]);
  const id = r.status === 0 ? (JSON.parse(r.stdout) as { runId: string }).runId : undefined;
  return { ...r, id };
}

const manifestOf = (dir: string, id: string) =>
  JSON.parse(fs.readFileSync(join(dir, ".track-run/ledger/runs", id, "manifest.json"), "utf8"));

const PREPARE =
  'mkdir -p "$TRACK_RUN_OUTPUTS/train" && cp "$TRACK_RUN_DATA/raw/rows.csv" "$TRACK_RUN_OUTPUTS/train/rows.csv"';

describe("run: data and pipelines", () => {
  it("reads a recorded run's outputs, links it, and refuses a changed output naming it", () => {
    const dir = project();
    const prep = run(dir, ["--model", "prep", "--data", "raw=raw"], PREPARE);
    expect(prep.status, prep.stderr).toBe(0);

    const train = run(
      dir,
      ["--model", "train", "--data", `prepared=run:${prep.id}`],
      'test -f "$TRACK_RUN_DATA/prepared/train/rows.csv"',
    );
    expect(train.status, train.stderr).toBe(0);
    const m = manifestOf(dir, train.id!);
    expect(m.data[0].fromRun).toEqual({ runId: prep.id });
    expect(m.links.parentRuns).toEqual([prep.id]);
    expect(m.data[0].payloadIdentity).toBe(manifestOf(dir, prep.id!).outputsIdentity);

    // A sub-folder: the same files as raw/, so the same identity as raw's data entry.
    const sub = run(dir, ["--model", "train", "--data", `prepared=run:${prep.id}/train`], "true");
    expect(sub.status, sub.stderr).toBe(0);
    expect(manifestOf(dir, sub.id!).data[0].fromRun).toEqual({ runId: prep.id, path: "train" });
    expect(manifestOf(dir, sub.id!).data[0].payloadIdentity).toBe(
      manifestOf(dir, prep.id!).data[0].payloadIdentity,
    );

    // A plain folder copied from the outputs is linked by payload identity, with a step saying so.
    fs.cpSync(join(dir, ".track-run/work", prep.id!, "outputs"), join(dir, "copy"), { recursive: true });
    const copied = run(dir, ["--model", "train", "--data", "prepared=copy"], "true");
    expect(copied.status, copied.stderr).toBe(0);
    expect(copied.stderr).toContain(`is the outputs of run ${prep.id}`);
    expect(manifestOf(dir, copied.id!).links.parentRuns).toEqual([prep.id]);

    // The raw data is no run's outputs: no link.
    const unlinked = run(dir, ["--model", "prep", "--data", "raw=raw"], PREPARE);
    expect(manifestOf(dir, unlinked.id!).links).toBeUndefined();

    fs.appendFileSync(join(dir, ".track-run/work", prep.id!, "outputs/train/rows.csv"), "3,eggs\n");
    const changed = run(dir, ["--model", "train", "--data", `prepared=run:${prep.id}`], "true");
    expect(changed.status).toBe(1);
    expect(changed.stderr).toContain("train/rows.csv: changed");

    const missing = run(dir, ["--model", "train", "--data", "prepared=run:20990101-000000-abcdef"], "true");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("run 20990101-000000-abcdef is not in");
    const bad = run(dir, ["--model", "train", "--data", "prepared=run:../x"], "true");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("is not a run id");
  });
});

describe("labels, bag-info fields, roles", () => {
  it("records labels from all three sources, bag-info fields, roles and untracked files", () => {
    const dir = project();
    const bag = cli(dir, ["bag", "create", "raw", "--out", "bag", "--info", "Basin=Campos"]);
    expect(bag.status, bag.stderr).toBe(0);
    expect(bag.stdout).toMatch(/payload sha256:[0-9a-f]{64}/);
    const pin = cli(dir, ["pin", "data", "raw"]);
    const identity = /payload +(sha256:[0-9a-f]{64})/.exec(pin.stdout)?.[1];
    expect(identity).toBeDefined();
    expect(bag.stdout).toContain(identity!);

    writeTree(dir, {
      "track-run.yml": [
        "model: train",
        "labels: { team: search, stage: from-file }",
        "outputs:",
        '  - { path: "model/*.bin", role: model }',
        '  - { path: "**/*.png", role: plot }',
        "track: declared",
        "",
      ].join("\n"),
    });
    const r = run(
      dir,
      ["--data", "rows=bag", "--label", "owner=ml", "--label", "stage=from-flag"],
      [
        'cd "$TRACK_RUN_OUTPUTS" && mkdir -p model plots && echo w > model/w.bin && echo p > plots/loss.png && echo s > scratch.tmp',
        "echo '::track-run label dataset=v2'",
        "echo '::track-run label stage=from-command'",
      ].join(" && "),
    );
    expect(r.status, r.stderr).toBe(0);
    const m = manifestOf(dir, r.id!);
    expect(m.labels).toEqual({ team: "search", stage: "from-flag", owner: "ml", dataset: "v2" });
    expect(m.data[0].info.Basin).toEqual(["Campos"]);
    expect(m.data[0].info["Payload-Oxum"]).toBeUndefined();
    expect(m.data[0].payloadIdentity).toBe(identity);
    expect(m.outputs.map((o: { path: string; role?: string }) => [o.path, o.role])).toEqual([
      ["model/w.bin", "model"],
      ["plots/loss.png", "plot"],
    ]);
    expect(m.untracked).toEqual([{ path: "scratch.tmp", size: 2 }]);

    const badLabel = run(dir, ["--data", "rows=bag", "--label", "no spaces=x"], "true");
    expect(badLabel.status).toBe(2);
    expect(badLabel.stderr).toContain('--label "no spaces=x"');
  });
});
