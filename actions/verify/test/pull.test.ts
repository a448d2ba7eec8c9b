// The deploy job end to end against the real registry on 127.0.0.1:5000: runs push their outputs as
// OCI artifacts; on a fresh clone at another path, the production model is pulled by its artifact
// digest (checked against the bundle attached to it) and the bundled actions/verify passes for it,
// and fails for the same file with one byte changed, for a run never promoted (pulled the same
// way), and once the production run is invalidated.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deployProject } from "../../../packages/cli/test/deploy-project.js";
import { trackRun } from "../../../packages/cli/test/ledger-project.js";
import { runAction } from "../../test-harness.js";

const dist = new URL("../../../dist/verify/index.js", import.meta.url).pathname;
const registryUp = await fetch("http://127.0.0.1:5000/v2/").then(
  (r) => r.ok,
  () => false,
);

describe.runIf(registryUp)("actions/verify on a model pulled by digest on a fresh clone", () => {
  it("passes for production's model; fails for a changed byte, a run never promoted, an invalidated run", async () => {
    const repo = `oci://127.0.0.1:5000/track-run-test/deploy-${randomBytes(4).toString("hex")}`;
    const p = deployProject({ runFlags: ["--artifacts", repo] });
    const ledgerDir = join(p.dir, ".track-run/ledger");
    const trust = join(p.dir, ".track-run/trust.json");
    const artifactDigest = (run: string) =>
      (JSON.parse(readFileSync(join(ledgerDir, "runs", run, "artifact.json"), "utf8")) as { digest: string })
        .digest;

    // Another machine: a fresh clone on another path, no work folder, no ledger of its own.
    const clone = join(mkdtempSync(join(tmpdir(), "track-run-deploy-clone-")), "models");
    expect(spawnSync("git", ["clone", "-q", p.dir, clone]).status).toBe(0);
    const pull = (run: string, out: string) => {
      const r = trackRun(clone, [
        "pull",
        artifactDigest(run),
        "--from",
        repo,
        "--trust",
        trust,
        "--out",
        out,
        "--json",
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ runId: run, verifiedBy: "referrer" });
      return join(out, "model.bin");
    };
    const verify = (file: string) =>
      runAction(
        dist,
        { file, model: "spam", environment: "production", ledger: `dir:${ledgerDir}`, trust },
        { cwd: clone, env: { GITHUB_ACTIONS: "true", TRACK_RUN_CACHE: join(clone, "..", "cache") } },
      );

    const model = pull(p.production, "production");
    expect(readFileSync(join(clone, model), "utf8")).toBe(p.modelBytes(0.85));
    const ok = await verify(model);
    expect(ok.stdout).not.toMatch(/::error::/);
    expect(ok.code).toBe(0);
    expect(ok.outputs).toMatchObject({ verified: "true", "run-id": p.production, promotion: "1" });

    // One byte changed.
    const bytes = readFileSync(join(clone, model));
    bytes[bytes.length - 2]! ^= 1;
    writeFileSync(join(clone, "changed.bin"), bytes);
    const changed = await verify("changed.bin");
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(
      /::error::changed\.bin is not the production model of spam: sha256:\S+ matches no output/,
    );

    // A run never promoted, its artifact pulled the same way.
    const candidate = p.train(0.9);
    const never = await verify(pull(candidate, "candidate"));
    expect(never.code).toBe(1);
    expect(never.stdout).toContain(`it is an output of run ${candidate}, which was never promoted`);

    // The production run invalidated.
    p.ok(["invalidate", p.production, "--reason", "trained on leaked labels"]);
    const invalidated = await verify(model);
    expect(invalidated.code).toBe(1);
    expect(invalidated.stdout).toMatch(
      new RegExp(
        `::error::production/model\\.bin is not the production model of spam: run ${p.production} is derived from an invalidated input: .*trained on leaked labels`,
      ),
    );
  }, 120_000);
});
