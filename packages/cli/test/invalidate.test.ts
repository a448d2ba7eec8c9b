// Invalidation through the real CLI on a real ledger: a three-step pipeline (prepare → train →
// evaluate) over two versions of a raw dataset; the first raw dataset is invalidated, and every run,
// model and production derived from it is flagged and refused, while the second version's are not.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { commitAll, writeTree } from "../../core/test/helpers.js";
import { trackRun } from "./ledger-project.js";

const INVALIDATION = "https://track-run.dev/attestation/invalidation/v1";

interface Pipeline {
  dir: string;
  raw1: string;
  raw2: string;
  prep: [string, string];
  train: [string, string];
  evaluate: [string, string];
}

function ok(dir: string, args: string[]): string {
  const r = trackRun(dir, args);
  if (r.status !== 0)
    throw new Error(`track-run ${args.join(" ")}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const runId = (stdout: string) => (JSON.parse(stdout) as { runId: string }).runId;

/** The bag digest a run recorded for its data. */
function dataDigest(dir: string, run: string): string {
  const show = JSON.parse(ok(dir, ["show", run, "--json"])) as { manifest: { data: { digest: string }[] } };
  return show.manifest.data[0]!.digest;
}

function pipeline(): Pipeline {
  const dir = mkdtempSync(join(tmpdir(), "track-run-invalidate-"));
  writeTree(dir, {
    "raw1/emails.txt": "win money now\nhello bob\n",
    "raw2/emails.txt": "win money now\nhello bob\nmeeting at noon\n",
    ".gitignore": ".track-run/ledger/\n.track-run/keys/\n.track-run/work/\nout/\nforged.*\n",
    ".track-run/policy.yml": [
      "model: spam",
      "metrics:",
      "  accuracy: { direction: higher, min: 0.80, max_regression: 0.05 }",
      "provenance: { signed: true }",
      "",
    ].join("\n"),
  });
  commitAll(dir);
  const host = ["run", "--json", "--runtime", "host"];
  const prep: string[] = [];
  const train: string[] = [];
  const evaluate: string[] = [];
  for (const v of [1, 2]) {
    // prepare: the raw emails, cleaned; each next step reads the step before by --data NAME=run:RUN.
    prep.push(
      runId(
        ok(dir, [
          ...host,
          "--model",
          "spam-prep",
          "--data",
          `raw=raw${v}`,
          "--",
          "sh",
          "-c",
          `tr a-z A-Z < "$TRACK_RUN_DATA/raw/emails.txt" > "$TRACK_RUN_OUTPUTS/clean.txt"`,
        ]),
      ),
    );
    // train: reads the prepare run's outputs, writes a model.
    train.push(
      runId(
        ok(dir, [
          ...host,
          "--model",
          "spam",
          "--data",
          `train=run:${prep.at(-1)}`,
          "--",
          "sh",
          "-c",
          `wc -l < "$TRACK_RUN_DATA/train/clean.txt" > "$TRACK_RUN_OUTPUTS/model.bin"; echo "::track-run metric name=accuracy value=0.9${v}"`,
        ]),
      ),
    );
    // evaluate: reads the trained model.
    evaluate.push(
      runId(
        ok(dir, [
          ...host,
          "--model",
          "spam-eval",
          "--data",
          `model=run:${train.at(-1)}`,
          "--",
          "sh",
          "-c",
          `cat "$TRACK_RUN_DATA/model/model.bin"; echo "::track-run metric name=auc value=0.8${v}"`,
        ]),
      ),
    );
  }
  // The first version's model goes to production (the second is the candidate of a pull request).
  ok(dir, ["promote", train[0]!, "--model", "spam"]);
  return {
    dir,
    raw1: dataDigest(dir, prep[0]!),
    raw2: dataDigest(dir, prep[1]!),
    prep: prep as [string, string],
    train: train as [string, string],
    evaluate: evaluate as [string, string],
  };
}

interface LogRow {
  runId: string;
  production: boolean;
  invalidated?: string[];
}

const logRows = (dir: string) => JSON.parse(ok(dir, ["log", "--json"])) as LogRow[];
const flagged = (dir: string) =>
  logRows(dir)
    .filter((r) => r.invalidated?.length)
    .map((r) => r.runId)
    .sort();

/** A hand-made record in invalidations/: an unsigned envelope of an invalidation statement. */
function unsignedRecord(target: string, nodes: string[]): string {
  const statement = {
    _type: "https://in-toto.io/Statement/v1",
    subject: [],
    predicateType: INVALIDATION,
    predicate: {
      action: "invalidate",
      target: { ref: target, nodes },
      reason: "hand-written",
      at: new Date(Date.now() + 3600_000).toISOString(),
      by: { actor: "someone" },
    },
  };
  return JSON.stringify({
    payloadType: "application/vnd.in-toto+json",
    payload: Buffer.from(JSON.stringify(statement)).toString("base64"),
    signatures: [],
  });
}

describe("invalidate and revalidate", () => {
  let p: Pipeline;
  beforeAll(() => {
    p = pipeline();
  }, 120_000);

  it("links the pipeline and flags nothing before any invalidation", () => {
    expect(p.raw1).not.toBe(p.raw2);
    expect(flagged(p.dir)).toEqual([]);
    const c = trackRun(p.dir, ["compare", p.train[1], "--json"]);
    expect(c.status).toBe(0);
  });

  it("invalidating the first raw dataset flags every derived run, the model, production, and the gate refuses", () => {
    const inv = trackRun(p.dir, ["invalidate", p.raw1, "--reason", "labels leaked from the test set"]);
    expect(inv.stderr).toBe("");
    expect(inv.status).toBe(0);
    expect(inv.stdout).toContain(`invalidated ${p.raw1}`);
    expect(inv.stdout).toMatch(/WARNING {2}production of spam \(run .*, promotion #1\) is derived from it/);
    const records = readdirSync(join(p.dir, ".track-run/ledger/invalidations"));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatch(/^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}\.sigstore\.json$/);

    // log: the three runs of version 1 are marked, version 2's are not; production is warned of.
    expect(flagged(p.dir)).toEqual([p.prep[0], p.train[0], p.evaluate[0]].sort());
    const log = trackRun(p.dir, ["log"]);
    expect(log.stdout).toMatch(new RegExp(`^\\*! ${p.train[0]} `, "m"));
    expect(log.stdout).toMatch(new RegExp(`^ {3}${p.train[1]} `, "m"));
    expect(log.stdout).toContain("(! derived from an invalidated input");
    expect(log.stderr).toContain(`WARNING production of spam (run ${p.train[0]}, promotion #1)`);
    expect(log.stderr).toContain("labels leaked from the test set");

    // show: a line naming the invalidation and its reason.
    const show = trackRun(p.dir, ["show", p.evaluate[0]]);
    expect(show.stdout).toMatch(
      new RegExp(
        `INVALIDATED derived from ${p.raw1} \\(invalidated by invalidations/${records[0]}: labels leaked`,
      ),
    );
    expect(trackRun(p.dir, ["show", p.evaluate[1]]).stdout).not.toContain("INVALIDATED");

    // lineage: the derived nodes are marked, in the tree, --json and --mermaid; version 2's are not.
    const lineage = trackRun(p.dir, ["lineage", p.raw1, "--down"]);
    expect(lineage.status).toBe(0);
    for (const run of [p.prep[0], p.train[0], p.evaluate[0]])
      expect(lineage.stdout).toMatch(new RegExp(`run ${run} .*\\[INVALIDATED: derived from ${p.raw1}`));
    expect(lineage.stdout).toMatch(/promotion spam #1 promotion \(production\) \[INVALIDATED/);
    const json = JSON.parse(ok(p.dir, ["lineage", p.train[1], "--json"])) as {
      nodes: { id: string; invalidated?: string[] }[];
    };
    expect(json.nodes.filter((n) => n.invalidated)).toEqual([]);
    expect(ok(p.dir, ["lineage", p.raw1, "--mermaid"])).toContain("classDef invalidated");

    // compare: the version-1 model is refused by not_invalidated, naming the input and the record.
    const refused = trackRun(p.dir, ["compare", p.train[0]]);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(
      new RegExp(
        `FAIL not_invalidated: ${p.train[0]}: derived from an invalidated input: ${p.raw1} \\(invalidated by invalidations/`,
      ),
    );
    // The version-2 candidate passes, with production flagged in the text and in the comment.
    const candidate = trackRun(p.dir, ["compare", p.train[1]]);
    expect(candidate.status).toBe(0);
    expect(candidate.stdout).toContain("ok   not_invalidated: derived from no invalidated input");
    expect(candidate.stdout).toContain(`WARNING production of spam (run ${p.train[0]}, promotion #1)`);
    const md = trackRun(p.dir, ["compare", p.train[1], "--markdown"]).stdout;
    expect(md).toContain(
      `> ⚠️ production of spam (run ${p.train[0]}, promotion #1) is derived from an invalidated input`,
    );
    expect(md).toContain("✅ **not_invalidated**");
    const mdRefused = trackRun(p.dir, ["compare", p.train[0], "--markdown"]).stdout;
    expect(mdRefused).toContain("❌ **not_invalidated**");

    // promote refuses it too.
    const promote = trackRun(p.dir, ["promote", p.train[0], "--model", "spam"]);
    expect(promote.status).toBe(1);
    expect(promote.stdout).toContain("not_invalidated");
  });

  it("an unsigned hand-written record and one signed by an untrusted key do not count, and are shown marked", () => {
    const folder = join(p.dir, ".track-run/ledger/invalidations");
    writeFileSync(
      join(folder, "99999999T000000.000Z-aaaaaa.sigstore.json"),
      unsignedRecord(p.raw2, [`data:${p.raw2}`]),
    );
    ok(p.dir, ["keygen", "--out", "forged"]);
    const forged = trackRun(p.dir, ["invalidate", p.raw2, "--reason", "forged", "--key", "forged.key"]);
    expect(forged.status).toBe(0);
    const log = trackRun(p.dir, ["log"]);
    expect(log.stderr).toMatch(
      /aaaaaa\.sigstore\.json \(invalidate sha256:[0-9a-f]+\) is UNSIGNED: shown, but it does not count/,
    );
    expect(log.stderr).toMatch(/is UNTRUSTED: shown, but it does not count/);
    expect(flagged(p.dir)).toEqual([p.prep[0], p.train[0], p.evaluate[0]].sort());
    expect(trackRun(p.dir, ["compare", p.train[1]]).status).toBe(0);
    // A forged revalidation does not lift the real invalidation either.
    const lift = trackRun(p.dir, ["revalidate", p.raw1, "--reason", "forged", "--key", "forged.key"]);
    expect(lift.status).toBe(0);
    expect(flagged(p.dir)).toEqual([p.prep[0], p.train[0], p.evaluate[0]].sort());
  });

  it("revalidate lifts it, with a reason; revalidating what is not invalidated is refused", () => {
    const r = trackRun(p.dir, ["revalidate", p.raw1, "--reason", "the leak was a false alarm", "--json"]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      predicate: { action: "revalidate", reason: "the leak was a false alarm" },
    });
    expect(flagged(p.dir)).toEqual([]);
    const log = trackRun(p.dir, ["log"]);
    expect(log.stderr).not.toContain("WARNING production");
    expect(trackRun(p.dir, ["compare", p.train[0]]).stdout).toContain("ok   not_invalidated");
    const again = trackRun(p.dir, ["revalidate", p.raw1, "--reason", "twice"]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain("is not invalidated");
  });

  it("invalidating a run flags what derives from it; the policy can turn the rule off; unknown targets are refused", () => {
    ok(p.dir, ["invalidate", p.prep[1], "--reason", "the cleaning step dropped rows"]);
    expect(flagged(p.dir)).toEqual([p.prep[1], p.train[1], p.evaluate[1]].sort());
    expect(trackRun(p.dir, ["compare", p.train[1]]).status).toBe(1);
    const policy = join(p.dir, "off.yml");
    writeFileSync(
      policy,
      readFileSync(join(p.dir, ".track-run/policy.yml"), "utf8").replace(
        "provenance: { signed: true }",
        "provenance: { signed: true, not_invalidated: false }",
      ),
    );
    const off = trackRun(p.dir, ["compare", p.train[1], "--policy", policy]);
    expect(off.status).toBe(0);
    expect(off.stdout).toContain("not refused (the policy sets not_invalidated: false)");
    const unknown = trackRun(p.dir, ["invalidate", "f".repeat(64), "--reason", "x"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("is no file, bag or payload identity of any recorded run");
    expect(trackRun(p.dir, ["invalidate", p.raw1]).status).toBe(2);
  });
});
