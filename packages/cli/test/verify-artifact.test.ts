// `track-run verify-artifact` on a real ledger: yes for the production model's file (by file and by
// digest), no for a file with one byte changed, a run never promoted, a run replaced or rolled back,
// an invalidated run, and another environment; exit 2 for bad input.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deployProject } from "./deploy-project.js";
import { trackRun } from "./ledger-project.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("track-run verify-artifact", () => {
  it("answers whether a file is the model in production, naming why not", () => {
    const p = deployProject();
    const v = (args: string[]) => trackRun(p.dir, ["verify-artifact", ...args, "--model", "spam"]);
    mkdirSync(join(p.dir, "out"));
    writeFileSync(join(p.dir, "out/prod.bin"), p.modelBytes(0.85));

    const yes = v(["out/prod.bin"]);
    expect(yes.stderr).toBe("");
    expect(yes.status).toBe(0);
    expect(yes.stdout).toMatch(/^ok {3}out\/prod\.bin is the production model of spam\n/);
    expect(yes.stdout).toContain(`run        ${p.production}`);
    expect(yes.stdout).toMatch(/output {5}model\.bin/);
    expect(yes.stdout).toMatch(/promotion {2}#1 \(promotion\) at \S+.*, environment production/);
    expect(yes.stdout).toMatch(/verdict {4}PASS/);
    expect(yes.stdout).toContain("data_valid is not re-checked here");

    const json = v([`sha256:${sha(p.modelBytes(0.85))}`, "--json", "--environment", "production"]);
    expect(json.status).toBe(0);
    const r = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(r).toMatchObject({
      deployable: true,
      runId: p.production,
      outputPath: "model.bin",
      environment: "production",
      promotion: { seq: 1, kind: "promotion", by: { environment: "production" } },
      verdict: { pass: true },
      reasons: [],
    });
    expect(r.commit).toMatch(/^[0-9a-f]{40}$/);

    // One byte changed.
    writeFileSync(join(p.dir, "out/changed.bin"), p.modelBytes(0.86));
    const changed = v(["out/changed.bin"]);
    expect(changed.status).toBe(1);
    expect(changed.stdout).toMatch(
      /^NO {3}out\/changed\.bin is not the production model of spam: sha256:\S+ matches no output of any recorded run/,
    );

    // A run never promoted.
    const candidate = p.train(0.9);
    writeFileSync(join(p.dir, "out/cand.bin"), p.modelBytes(0.9));
    const never = v(["out/cand.bin", "--json"]);
    expect(never.status).toBe(1);
    expect(JSON.parse(never.stdout)).toMatchObject({
      deployable: false,
      reasons: [{ code: "never-promoted", runId: candidate }],
    });
    expect(v(["out/cand.bin"]).stdout).toContain(
      `it is an output of run ${candidate}, which was never promoted to production of spam; production is run ${p.production} (#1)`,
    );

    // Promoted to staging: the head of production now, but not production's environment.
    p.ok(["promote", candidate, "--model", "spam", "--environment", "staging"]);
    expect(v(["out/cand.bin"]).status).toBe(0);
    const notInProd = v(["out/cand.bin", "--environment", "production"]);
    expect(notInProd.status).toBe(1);
    expect(notInProd.stdout).toContain(
      `which was never promoted to production of spam in environment production; production in environment production is run ${p.production} (#1)`,
    );
    expect(v(["out/prod.bin", "--environment", "production"]).status).toBe(0);
    const replaced = v(["out/prod.bin"]);
    expect(replaced.status).toBe(1);
    expect(replaced.stdout).toContain(`promoted as #1 and replaced by #2 (run ${candidate})`);
    const noEnv = v(["out/prod.bin", "--environment", "canary"]);
    expect(noEnv.status).toBe(1);
    expect(noEnv.stdout).toContain("model spam has nothing in production in environment canary");

    // Rolled back.
    p.ok(["rollback", "--model", "spam"]);
    const back = v(["out/cand.bin"]);
    expect(back.status).toBe(1);
    expect(back.stdout).toContain(
      `promoted as #2 and rolled back by #3; production is run ${p.production} (#3)`,
    );
    expect(v(["out/prod.bin"]).stdout).toMatch(/promotion {2}#3 \(rollback\)/);

    // Invalidated: the production run itself.
    p.ok(["invalidate", p.production, "--reason", "trained on leaked labels"]);
    const bad = v(["out/prod.bin", "--json"]);
    expect(bad.status).toBe(1);
    const b = JSON.parse(bad.stdout) as { reasons: Array<{ code: string; message: string }> };
    expect(b.reasons[0]).toMatchObject({ code: "invalidated" });
    expect(b.reasons[0]!.message).toMatch(/invalidations\/\S+: trained on leaked labels/);
    expect(b.reasons.map((x) => x.code)).not.toContain("gate-fails");

    // An unsigned run, promoted under a policy that does not ask for signatures: never deployable.
    const unsigned = p.train(0.95, ["--unsigned"]);
    writeFileSync(
      join(p.dir, "out/relaxed.yml"),
      "model: spam\nmetrics:\n  accuracy: { direction: higher }\n",
    );
    p.ok(["promote", unsigned, "--model", "spam", "--policy", "out/relaxed.yml"]);
    writeFileSync(join(p.dir, "out/unsigned.bin"), p.modelBytes(0.95));
    const notSigned = v(["out/unsigned.bin", "--json", "--policy", "out/relaxed.yml"]);
    expect(notSigned.status).toBe(1);
    expect(JSON.parse(notSigned.stdout)).toMatchObject({
      runId: unsigned,
      promotion: { seq: 4 },
      verdict: { pass: true },
      reasons: [{ code: "not-verified", runId: unsigned }],
    });

    // Bad input: exit 2, one line.
    const neither = v(["nosuch.bin"]);
    expect(neither.status).toBe(2);
    expect(neither.stderr).toMatch(/"nosuch\.bin" is neither a file here nor a sha256 digest/);
    expect(trackRun(p.dir, ["verify-artifact", "out/prod.bin", "--model", "../x"]).status).toBe(2);
    expect(trackRun(p.dir, ["verify-artifact", "out/prod.bin"]).status).toBe(2);
  }, 120_000);
});
