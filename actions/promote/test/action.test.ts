// The bundled dist/promote/index.js, run as the runner runs it.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ledgerProject, trackRun } from "../../../packages/cli/test/ledger-project.js";
import { runAction } from "../../test-harness.js";

const dist = new URL("../../../dist/promote/index.js", import.meta.url).pathname;

describe("actions/promote (bundled)", () => {
  it("promotes a passing run with who, where and when; refuses a regression naming the rule; rolls back", async () => {
    const p = ledgerProject();
    const better = p.train(0.9);
    const worse = p.train(0.83);
    const key = readFileSync(join(p.dir, ".track-run/keys/signing.key"), "utf8");
    const env = {
      GITHUB_ACTIONS: "true",
      GITHUB_ACTOR: "release-bot",
      GITHUB_SERVER_URL: "https://github.com",
      GITHUB_REPOSITORY: "acme/models",
      GITHUB_RUN_ID: "77",
      TRACK_RUN_CACHE: join(p.dir, ".cache"),
    };
    const go = (inputs: Record<string, string>) =>
      runAction(dist, { model: "spam", "signing-key": key, ...inputs }, { cwd: p.dir, env });

    const ok = await go({ run: better, environment: "production" });
    expect(ok.stdout).not.toMatch(/::error::/);
    expect(ok.code).toBe(0);
    expect(ok.outputs).toMatchObject({
      promoted: "true",
      "run-id": better,
      seq: "2",
      "previous-run": p.production,
    });
    expect(ok.summary).toContain(`🚀 spam: run ${better} is in production`);
    const pointer = JSON.parse(
      readFileSync(join(p.dir, ".track-run/ledger/models/spam/production.json"), "utf8"),
    ) as Record<string, unknown>;
    expect(pointer).toMatchObject({
      runId: better,
      seq: 2,
      kind: "promotion",
      promotedBy: {
        actor: "release-bot",
        workflowRun: "https://github.com/acme/models/actions/runs/77",
        environment: "production",
      },
      previous: { runId: p.production },
    });
    // The signed promotion record verifies with the project's trusted key.
    const records = readdirSync(join(p.dir, ".track-run/ledger/models/spam/promotions"));
    const signed = records.find((f) => f === "000002.sigstore.json")!;
    const record = join(".track-run/ledger/models/spam/promotions", signed);
    const v = trackRun(p.dir, ["verify", record]);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`ok   promotion +promotion #2: run ${better} of model spam`));
    expect(v.stdout).toMatch(
      /ok {3}subject runs\/\S+\/manifest\.json the ledger's manifest has the promoted digest/,
    );

    // Against the production of now (0.9), 0.83 regresses by more than 0.01.
    const no = await go({ run: worse });
    expect(no.code).toBe(1);
    expect(no.outputs.promoted).toBe("false");
    expect(no.stdout).toMatch(
      new RegExp(
        `::error::${worse} not promoted: the gate does not pass \\(max_regression accuracy: worse by 0\\.07 than production \\(0\\.9\\)`,
      ),
    );
    expect(no.summary).toContain(`⛔ spam: run ${worse} was not promoted`);

    const back = await go({ rollback: "true" });
    expect(back.code).toBe(0);
    expect(back.outputs).toMatchObject({ "run-id": p.production, seq: "3", "previous-run": better });
    expect(back.summary).toContain(`↩️ spam: rolled back to run ${p.production}`);

    // Bad input: exit 2 naming it.
    const bad = await go({ run: better, model: "other" });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/::error::input model: the policy is for model spam, not other/);

    const noModel = await runAction(dist, { run: better }, { cwd: p.dir, env });
    expect(noModel.code).toBe(2);
    expect(noModel.stdout).toMatch(/::error::Input required and not supplied: model/);

    // A ledger manifest changed after its promotion no longer matches the signed record.
    const manifest = join(p.dir, ".track-run/ledger/runs", better, "manifest.json");
    writeFileSync(manifest, readFileSync(manifest, "utf8").replace('"value": 0.9', '"value": 0.99'));
    const tampered = trackRun(p.dir, ["verify", record]);
    expect(tampered.status).toBe(1);
    expect(tampered.stdout).toMatch(
      /FAIL subject runs\/\S+\/manifest\.json the ledger's manifest digest is sha256:/,
    );
  });
});
