// The bundled dist/reproduce/index.js, run as the runner runs it.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commitAll, tempDir, writeTree } from "../../../packages/core/test/helpers.js";
import { runAction } from "../../test-harness.js";

const dist = new URL("../../../dist/reproduce/index.js", import.meta.url).pathname;
const track = new URL("../../../dist/track/index.js", import.meta.url).pathname;
const engine = spawnSync("docker", ["version"]).status === 0;

describe.skipIf(!engine)("actions/reproduce (bundled)", () => {
  it("reproduces a run recorded by the root action, bitwise, and summarises the verdict", async () => {
    const dir = tempDir();
    // The data is not in git: a reproduction finds it in the working copy, as it is now.
    writeTree(dir, { "data/rows.csv": "1\n2\n", ".gitignore": ".track-run/\ndata/\n" });
    commitAll(dir);
    const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const key = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    writeFileSync(
      join(dir, "signing.pub"),
      pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
    );
    writeFileSync(join(dir, "trust.json"), JSON.stringify({ keys: [{ path: "signing.pub" }] }));
    const env = { GITHUB_ACTIONS: "true", TRACK_RUN_CACHE: join(dir, ".cache") };
    const recorded = await runAction(
      track,
      {
        model: "demo",
        image: "track-run/busybox:1",
        data: "rows=data",
        command: "wc -l < /data/rows/rows.csv > $TRACK_RUN_OUTPUTS/n.txt",
        "signing-key": key,
      },
      { cwd: dir, env },
    );
    expect(recorded.code).toBe(0);
    const r = await runAction(
      dist,
      { run: recorded.outputs["run-id"]!, trust: "trust.json", "signing-key": key },
      { cwd: dir, env },
    );
    expect(r.code).toBe(0);
    expect(r.outputs.verdict).toBe("bitwise");
    expect(r.outputs["reproduction-run-id"]).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(r.summary).toContain(`✅ demo run ${recorded.outputs["run-id"]}: bitwise`);
    writeFileSync(join(dir, "data/rows.csv"), "1\n3\n");
    const changed = await runAction(
      dist,
      { run: recorded.outputs["run-id"]!, trust: "trust.json", "signing-key": key },
      { cwd: dir, env },
    );
    expect(changed.code).toBe(1);
    expect(changed.outputs.verdict).toBe("not-reproducible");
    expect(changed.stdout).toMatch(/::error::run \S+: not-reproducible: data rows: .*rows\.csv changed/);
  });
});
