// Outputs as OCI artifacts at the command line, against the real registry on 127.0.0.1:5000
// (Debian's docker-registry: no referrers API, so the bundle is found by the referrers tag): `run
// --artifacts` pushes, `pull RUN` and `pull DIGEST --from` fetch and check, a run on another
// checkout reads `--data NAME=run:RUN` by pulling, and a record pointing at another artifact is
// refused naming the changed file, with nothing written.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commitAll, writeTree } from "../../core/test/helpers.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
const cli = (dir: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, HOME: dir, TRACK_RUN_REGISTRY_USER: "", TRACK_RUN_REGISTRY_PASSWORD: "", ...env },
  });

const registryUp = await fetch("http://127.0.0.1:5000/v2/").then(
  (r) => r.ok,
  () => false,
);

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), "track-run-pull-"));
  writeTree(dir, { "raw/rows.csv": "id,text\n1,hello\n", ".gitignore": ".track-run/\n" });
  commitAll(dir);
  return dir;
}

const TRAIN = (weights: string) =>
  `mkdir -p "$TRACK_RUN_OUTPUTS/model" && printf '${weights}' > "$TRACK_RUN_OUTPUTS/model/weights.bin" && echo notes > "$TRACK_RUN_OUTPUTS/notes.txt"`;

/** `run --json` of model spam on the host running `script`, its outputs pushed to `artifacts` when given. */
const runSpam = (dir: string, script: string, artifacts?: string) =>
  cli(dir, [
    "run",
    "--json",
    "--runtime",
    "host",
    "--model",
    "spam",
    ...(artifacts ? ["--artifacts", artifacts] : []),
    "--",
    "sh",
    "-c",
    script,
  ]);

describe.runIf(registryUp)("run --artifacts, pull, and run: data from a registry", () => {
  it("pushes outputs, pulls them by run and by digest, and feeds a run on another checkout", () => {
    const dir = project();
    const repo = `oci://127.0.0.1:5000/track-run-test/cli-${randomBytes(4).toString("hex")}`;
    const r = runSpam(dir, TRAIN("w1"), repo);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { runId: string; artifact: string };
    expect(res.artifact).toMatch(new RegExp(`^${repo}@sha256:[0-9a-f]{64}$`));
    const hint = JSON.parse(
      fs.readFileSync(join(dir, ".track-run/ledger/runs", res.runId, "artifact.json"), "utf8"),
    );
    expect(hint.reference).toBe(res.artifact);
    expect(hint.bundle.via).toBe("tag");

    // By run id: the record read through the verified reader, the artifact found by its hint.
    const byRun = cli(dir, ["pull", res.runId, "--out", "pulled"]);
    expect(byRun.status, byRun.stderr).toBe(0);
    expect(fs.readFileSync(join(dir, "pulled/model/weights.bin"), "utf8")).toBe("w1");
    expect(fs.readFileSync(join(dir, "pulled/notes.txt"), "utf8")).toBe("notes\n");

    // By digest, with the bundle attached to the artifact verified against the trust file.
    const digest = res.artifact.split("@")[1]!;
    const byDigest = cli(dir, ["pull", digest, "--from", repo, "--out", "by-digest", "--json"]);
    expect(byDigest.status, byDigest.stderr).toBe(0);
    expect(JSON.parse(byDigest.stdout)).toMatchObject({ runId: res.runId, verifiedBy: "referrer" });
    expect(fs.readFileSync(join(dir, "by-digest/model/weights.bin"), "utf8")).toBe("w1");

    // A digest without --from, a folder that is not empty: exit 2 naming the input.
    const noFrom = cli(dir, ["pull", digest, "--out", "x"]);
    expect(noFrom.status).toBe(2);
    expect(noFrom.stderr).toContain("needs --from oci://REGISTRY/REPO");
    const notEmpty = cli(dir, ["pull", res.runId, "--out", "pulled"]);
    expect(notEmpty.status).toBe(2);
    expect(notEmpty.stderr).toContain('--out "pulled" is not empty');

    // Another checkout on another path, reading the first one's ledger: its outputs are not here,
    // so run:RUN data is pulled from the artifact and checked before the run starts.
    const other = mkdtempSync(join(tmpdir(), "track-run-pull-other-"));
    expect(spawnSync("git", ["clone", "-q", dir, other]).status).toBe(0);
    const ledger = `dir:${join(dir, ".track-run/ledger")}`;
    const key = join(dir, ".track-run/keys/signing.pub");
    const downstream = cli(other, [
      "run",
      "--json",
      "--runtime",
      "host",
      "--model",
      "eval",
      "--ledger",
      ledger,
      "--trusted-key",
      key,
      "--data",
      `model=run:${res.runId}`,
      "--",
      "sh",
      "-c",
      'test "$(cat "$TRACK_RUN_DATA/model/model/weights.bin")" = w1',
    ]);
    expect(downstream.status, downstream.stderr).toBe(0);
    expect(downstream.stderr).toContain(`pulling run ${res.runId}'s outputs from its OCI artifact`);

    // Reproducing that run on a third checkout: its data (run:RUN) is not where it was, so it is pulled too.
    const evalId = (JSON.parse(downstream.stdout) as { runId: string }).runId;
    fs.rmSync(join(other, ".track-run/work"), { recursive: true, force: true });
    const third = mkdtempSync(join(tmpdir(), "track-run-pull-third-"));
    expect(spawnSync("git", ["clone", "-q", dir, third]).status).toBe(0);
    const otherKey = join(other, ".track-run/keys/signing.pub");
    const again = cli(third, [
      "reproduce",
      evalId,
      "--ledger",
      ledger,
      "--trusted-key",
      key,
      otherKey,
      "--json",
    ]);
    expect(again.stderr).toContain(`pulling run ${res.runId}'s outputs from its OCI artifact`);
    expect(again.status, again.stderr).toBe(0);
    expect(
      fs.readFileSync(join(third, ".track-run/work", res.runId, "outputs/model/weights.bin"), "utf8"),
    ).toBe("w1");

    // The (unsigned) hint pointed at another run's artifact: refused naming the file, nothing written.
    const r2 = runSpam(dir, TRAIN("w2"), repo);
    expect(r2.status, r2.stderr).toBe(0);
    const second = JSON.parse(r2.stdout) as { artifact: string };
    const hintPath = join(dir, ".track-run/ledger/runs", res.runId, "artifact.json");
    fs.writeFileSync(
      hintPath,
      JSON.stringify({ ...hint, reference: second.artifact, digest: second.artifact.split("@")[1] }),
    );
    const swapped = cli(dir, ["pull", res.runId, "--out", "swapped"]);
    expect(swapped.status).toBe(1);
    expect(swapped.stderr).toContain("model/weights.bin: changed");
    expect(fs.existsSync(join(dir, "swapped"))).toBe(false);
  });

  it("tells a run that names no artifact how to give one", () => {
    const dir = project();
    const r = runSpam(dir, TRAIN("w"));
    expect(r.status, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as { runId: string }).runId;
    const p = cli(dir, ["pull", id, "--out", "o"]);
    expect(p.status).toBe(2);
    expect(p.stderr).toContain("names no artifact");
    expect(p.stderr).toContain("--from oci://REGISTRY/REPO");
    const bad = cli(dir, [
      "run",
      "--runtime",
      "host",
      "--model",
      "spam",
      "--artifacts",
      "127.0.0.1:5000/x",
      "--",
      "true",
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--artifacts must start with oci://");
  });

  it("promote --tag tags the promoted run's artifact in the registry (production, or the name given)", async () => {
    const dir = project();
    writeTree(dir, {
      ".track-run/policy.yml": "model: spam\nmetrics:\n  accuracy: { direction: higher, min: 0.5 }\n",
    });
    const name = `track-run-test/tag-${randomBytes(4).toString("hex")}`;
    const repo = `oci://127.0.0.1:5000/${name}`;
    const r = runSpam(dir, `${TRAIN("w")} && echo '::track-run metric name=accuracy value=0.9'`, repo);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { runId: string; artifact: string };
    const p = cli(dir, ["promote", res.runId, "--model", "spam", "--tag", "--json"]);
    expect(p.status, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout).tagged).toMatchObject({ artifact: `${repo}:production` });
    const head = await fetch(`http://127.0.0.1:5000/v2/${name}/manifests/production`, {
      method: "HEAD",
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(head.headers.get("docker-content-digest")).toBe(res.artifact.split("@")[1]);
    const bad = cli(dir, ["promote", res.runId, "--model", "spam", "--tag", "no/slash"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--tag "no/slash" is not a registry tag');
  });
});
