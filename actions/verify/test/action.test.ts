// The bundled dist/verify/index.js, run as the runner runs it: passes for the production model's
// file, fails naming why for a file with one byte changed, a run never promoted and an invalidated one.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deployProject } from "../../../packages/cli/test/deploy-project.js";
import { runAction } from "../../test-harness.js";

const dist = new URL("../../../dist/verify/index.js", import.meta.url).pathname;

describe("actions/verify (bundled)", () => {
  it("passes for the model in production; fails for a changed byte, a run never promoted, an invalidated run", async () => {
    const p = deployProject();
    const env = { GITHUB_ACTIONS: "true", TRACK_RUN_CACHE: join(p.dir, ".cache") };
    const go = (inputs: Record<string, string>) =>
      runAction(dist, { model: "spam", ...inputs }, { cwd: p.dir, env });
    mkdirSync(join(p.dir, "out"));
    const file = (name: string, body: string) => {
      writeFileSync(join(p.dir, "out", name), body);
      return `out/${name}`;
    };
    const prod = file("model.bin", p.modelBytes(0.85));

    const ok = await go({ file: prod, environment: "production" });
    expect(ok.stdout).not.toMatch(/::error::/);
    expect(ok.code).toBe(0);
    expect(ok.outputs).toMatchObject({ verified: "true", "run-id": p.production, promotion: "1" });
    expect(ok.outputs.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(ok.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ok.summary).toContain("✅ out/model.bin is the production model of spam (environment production)");
    expect(ok.summary).toContain(p.production);

    // The same, by digest (an artifact pulled by digest).
    const byDigest = await go({ digest: ok.outputs.digest! });
    expect(byDigest.code).toBe(0);
    expect(byDigest.outputs["run-id"]).toBe(p.production);

    // One byte changed.
    const changed = await go({ file: file("changed.bin", p.modelBytes(0.86)) });
    expect(changed.code).toBe(1);
    expect(changed.outputs.verified).toBe("false");
    expect(changed.stdout).toMatch(
      /::error::out\/changed\.bin is not the production model of spam: sha256:\S+ matches no output of any recorded run/,
    );
    expect(changed.summary).toContain("⛔ out/changed.bin is not the production model of spam");

    // A run that was never promoted.
    const candidate = p.train(0.9);
    const never = await go({ file: file("candidate.bin", p.modelBytes(0.9)) });
    expect(never.code).toBe(1);
    expect(never.stdout).toContain(
      `is not the production model of spam: it is an output of run ${candidate}, which was never promoted to production of spam`,
    );

    // An invalidated production run.
    p.ok(["invalidate", p.production, "--reason", "trained on leaked labels"]);
    const bad = await go({ file: prod });
    expect(bad.code).toBe(1);
    expect(bad.outputs.verified).toBe("false");
    expect(bad.stdout).toMatch(
      new RegExp(
        `::error::out/model\\.bin is not the production model of spam: run ${p.production} is derived from an invalidated input: .*trained on leaked labels`,
      ),
    );

    // Bad input: exit 2, one line.
    const both = await go({ file: prod, digest: ok.outputs.digest! });
    expect(both.code).toBe(2);
    expect(both.stdout).toMatch(/::error::inputs file and digest: give exactly one/);
    const notHex = await go({ digest: "sha256:abc" });
    expect(notHex.code).toBe(2);
    expect(notHex.stdout).toMatch(/::error::input digest: "sha256:abc" is not a sha256 digest/);
  }, 120_000);
});
