// Reproductions on the real engine with the offline python image.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ContainerRuntime,
  generateKeys,
  LedgerReader,
  openDockerRuntime,
  openLedger,
  type PublicKeyInfo,
  readPrivateKey,
  readPublicKey,
  reproduceRun,
  type TrackSpec,
  trackRun,
} from "../../src/index.js";
import { docker, dockerUp, PYTHON } from "../docker-helpers.js";
import { commitAll, tempDir, writeTree } from "../helpers.js";

const DETERMINISTIC = `
import json, os, random
random.seed(int(os.environ["TRACK_RUN_SEED"]))
rows = [int(x) for x in open(os.path.join(os.environ["TRACK_RUN_DATA"], "train", "rows.csv")).read().split()]
w = sum(random.random() * r for r in rows)
json.dump({"w": round(w, 12)}, open(os.path.join(os.environ["TRACK_RUN_OUTPUTS"], "model.json"), "w"), sort_keys=True)
json.dump({"test": {"accuracy": round(0.5 + (w % 0.5), 6)}}, open(os.environ["TRACK_RUN_METRICS"], "w"))
`;
const NOISY = `
import json, os
noise = int.from_bytes(os.urandom(2), "big") / 65535 * 0.01
json.dump({"test": {"accuracy": 0.9 + noise}}, open(os.environ["TRACK_RUN_METRICS"], "w"))
open(os.path.join(os.environ["TRACK_RUN_OUTPUTS"], "model.bin"), "wb").write(os.urandom(16))
`;

describe.skipIf(!dockerUp)("reproduce a recorded run", () => {
  let rt: ContainerRuntime;
  let keyDir: string;
  let pub: PublicKeyInfo;
  beforeAll(async () => {
    rt = await openDockerRuntime({});
    keyDir = mkdtempSync(join(tmpdir(), "track-run-rkeys-"));
    generateKeys(join(keyDir, "k"));
    pub = readPublicKey(join(keyDir, "k.pub"));
  });
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

  /** The data is left out of git unless `commitData`: a changed byte is then seen in the working copy. */
  function project(script: string, commitData = false): string {
    const dir = tempDir();
    writeTree(dir, {
      "train.py": script,
      "data/train/rows.csv": "3\n1\n4\n1\n5\n",
      ".gitignore": commitData ? ".track-run/\n" : ".track-run/\ndata/\n",
    });
    commitAll(dir);
    return dir;
  }
  const spec = (repo: string, over: Partial<TrackSpec> = {}): TrackSpec => ({
    model: "demo",
    command: ["python3", "train.py"],
    repo,
    runtime: "docker",
    image: PYTHON,
    data: [{ name: "train", path: join(repo, "data/train") }],
    seed: 42,
    ledger: `dir:${join(repo, ".track-run/ledger")}`,
    signing: { key: readPrivateKey(join(keyDir, "k.key")) },
    ...over,
  });
  const record = (repo: string, over: Partial<TrackSpec> = {}) =>
    trackRun(spec(repo, over), { env: {}, containers: rt, cacheDir: join(repo, ".track-run/cache") });
  const reproduce = (
    repo: string,
    r: { bundlePath: string; recordDir: string },
    over: Record<string, unknown> = {},
  ) =>
    reproduceRun({
      bundle: JSON.parse(readFileSync(r.bundlePath, "utf8")),
      recordDir: r.recordDir,
      trust: { keys: [pub] },
      repo,
      signing: { key: readPrivateKey(join(keyDir, "k.key")) },
      ledger: `dir:${join(repo, ".track-run/ledger")}`,
      containers: rt,
      env: {},
      ...over,
    });

  it("reproduces a deterministic run bitwise, records the reproduction and links it to the original", async () => {
    const repo = project(DETERMINISTIC);
    const original = await record(repo);
    expect(original.status.state).toBe("succeeded");
    const rep = await reproduce(repo, original);
    expect(rep.reasons).toEqual([]);
    expect(rep.verdict).toBe("bitwise");
    expect(rep.outputs).toEqual([expect.objectContaining({ path: "model.json", equal: true })]);
    const again = JSON.parse(readFileSync(join(rep.reproduction!.recordDir, "manifest.json"), "utf8"));
    expect(again.links).toEqual({ reproductionOf: original.runId });
    expect(
      JSON.parse(readFileSync(join(rep.reproduction!.recordDir, "reproduction.json"), "utf8")).verdict,
    ).toBe("bitwise");
    // The verdict is signed, and counts through the verified reader.
    const reader = await LedgerReader.open(openLedger(`dir:${join(repo, ".track-run/ledger")}`), {
      keys: [pub],
    });
    expect(await reader.reproductionsOf(await reader.require(original.runId))).toEqual([
      expect.objectContaining({ runId: rep.reproduction!.runId, verdict: "bitwise", counts: true }),
    ]);
  });

  it("gives not-reproducible, naming the file, when one byte of the data changed", async () => {
    const repo = project(DETERMINISTIC);
    const original = await record(repo);
    writeFileSync(join(repo, "data/train/rows.csv"), "3\n1\n4\n1\n6\n");
    const rep = await reproduce(repo, original);
    expect(rep.verdict).toBe("not-reproducible");
    expect(rep.reasons).toEqual([
      expect.stringMatching(
        /^data train: .* has digest sha256:[0-9a-f]{64}, the record says sha256:[0-9a-f]{64}: data\/rows\.csv changed/,
      ),
    ]);
  });

  it("judges a nondeterministic run by the policy: within tolerance, or diverged naming the metric", async () => {
    const repo = project(NOISY);
    const original = await record(repo, { data: [] });
    const lenient = await reproduce(repo, original, {
      policy: { model: "demo", metrics: { accuracy: { direction: "higher", tolerance: 0.02 } } },
    });
    expect(lenient.verdict).toBe("within-tolerance");
    expect(lenient.reasons.join("\n")).toMatch(/output model\.bin has other bytes/);
    const strict = await reproduce(repo, original);
    expect(strict.verdict).toBe("diverged");
    expect(strict.reasons[0]).toMatch(
      /^metric test\/accuracy: 0\.9\d* -> 0\.9\d* \(delta .*, no tolerance in the policy\)$/,
    );
  });

  it("gives not-reproducible naming the image when it is gone and was never pushed", async () => {
    const repo = project(DETERMINISTIC);
    const tag = `track-run-test/gone:${randomBytes(3).toString("hex")}`;
    // A one-off image with its own ID (the python image plus a unique layer).
    execFileSync("sh", [
      "-c",
      `echo 'FROM ${PYTHON}\nRUN echo ${tag} > /marker' | docker build -q -t ${tag} - >/dev/null`,
    ]);
    const original = await record(repo, { image: tag });
    const id = original.manifest.environment.image!.id!;
    docker("image", "rm", "-f", tag);
    const rep = await reproduce(repo, original);
    expect(rep.verdict).toBe("not-reproducible");
    expect(rep.reasons).toEqual([
      `environment: image ${tag} (${id}) is not here, was never pushed to a registry, and no Dockerfile was recorded to rebuild it`,
    ]);
  });

  it("reproduces from a fresh clone of the repository, with the bundle alone", async () => {
    // The data is in the commit, recorded by its location in the repository.
    const repo = project(DETERMINISTIC, true);
    const original = await record(repo);
    const bundleCopy = join(tempDir(), "run.sigstore.json");
    writeFileSync(bundleCopy, readFileSync(original.bundlePath));
    const clone = join(tempDir(), "clone");
    expect(spawnSync("git", ["clone", "-q", `file://${repo}`, clone]).status).toBe(0);
    const rep = await reproduceRun({
      bundle: JSON.parse(readFileSync(bundleCopy, "utf8")),
      trust: { keys: [pub] },
      repo: clone,
      signing: { key: readPrivateKey(join(keyDir, "k.key")) },
      ledger: `dir:${join(clone, ".track-run/ledger")}`,
      containers: rt,
      env: {},
    });
    expect(rep.verdict).toBe("bitwise");
  });

  it("refuses a record that does not verify", async () => {
    const repo = project(DETERMINISTIC);
    const original = await record(repo);
    const stranger = tempDir();
    generateKeys(join(stranger, "s"));
    const rep = await reproduce(repo, original, {
      trust: { keys: [readPublicKey(join(stranger, "s.pub"))] },
    });
    expect(rep.verdict).toBe("not-reproducible");
    expect(rep.reasons[0]).toMatch(/^record: signature: signature 0 does not verify with the trusted key/);
  });
});
