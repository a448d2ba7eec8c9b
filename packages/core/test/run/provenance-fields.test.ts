// What a run records so the ledger can be asked about it: the payload identity of its data (the
// same files as a folder, a bag, a holey bag or a tar are the same data), the identity of its
// outputs, labels from three places, bag-info fields, output roles and declared tracking, and the
// runs it read from (named with run:RUN, or found by payload identity). Host runtime: no engine.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { createBag, outputsIdentity, payloadIdentity, pinData, tarBag } from "../../src/bag/index.js";
import { resolveRunSpec, type TrackSpec, trackRun } from "../../src/run/index.js";
import { generateKeys, readPrivateKey, readPublicKey, type SigningPlan } from "../../src/sign/index.js";
import { commitAll, failure, holeyBagOf, tempDir, writeTree } from "../helpers.js";

const ROWS = "id,text\n1,hello\n2,spam\n";

function project() {
  const repo = tempDir();
  writeTree(repo, { ".gitignore": ".track-run/\n", "raw/rows.csv": ROWS });
  commitAll(repo);
  const keys = tempDir();
  generateKeys(join(keys, "k"));
  const signing: SigningPlan = { key: readPrivateKey(join(keys, "k.key")) };
  const trust = { keys: [readPublicKey(join(keys, "k.pub"))] };
  const spec = (o: Partial<TrackSpec>): TrackSpec => ({
    model: "demo",
    command: ["true"],
    repo,
    runtime: "host",
    data: [],
    ledger: `dir:${join(repo, ".track-run/ledger")}`,
    signing,
    ...o,
  });
  return { repo, spec, trust };
}

const ctx = (extra: object = {}) => ({ env: { PATH: process.env.PATH }, ...extra });

describe("payload identity", () => {
  it("is the same for the same files as a folder, a bag, a holey bag and a tar; the bag digests differ", async () => {
    const { repo, spec } = project();
    const bag = join(tempDir(), "bag");
    await createBag(join(repo, "raw"), bag, { info: [["Basin", "Campos"]], softwareAgent: "test" });
    const tar = join(tempDir(), "bag.tar");
    await tarBag(bag, tar);
    const src = join(tempDir(), "rows.csv");
    fs.writeFileSync(src, ROWS);
    const holey = join(tempDir(), "holey");
    holeyBagOf(pathToFileURL(src).href, ROWS, holey);

    const sha = createHash("sha256").update(ROWS).digest("hex");
    const expected = `sha256:${createHash("sha256").update(`${sha}  data/rows.csv\n`).digest("hex")}`;
    const pins = await Promise.all([join(repo, "raw"), bag, tar].map((p) => pinData(p)));
    expect(pins.map((p) => p.payloadIdentity)).toEqual([expected, expected, expected]);
    // The bag's digest covers its bag-info.txt: not the folder's (a bag and its tar share one).
    expect(pins[1]!.digest).not.toBe(pins[0]!.digest);
    expect(pins[2]!.digest).toBe(pins[1]!.digest);

    const r = await trackRun(
      spec({
        data: [
          { name: "folder", path: join(repo, "raw") },
          { name: "bag", path: bag },
          { name: "holey", path: holey },
        ],
      }),
      ctx({ cacheDir: tempDir() }),
    );
    expect(r.manifest.data.map((d) => d.payloadIdentity)).toEqual([expected, expected, expected]);
    expect(r.manifest.data.find((d) => d.name === "holey")?.holey).toBe(true);
    // bag-info.txt fields, but for the ones that vary or are recorded elsewhere.
    expect(r.manifest.data.find((d) => d.name === "bag")?.info).toEqual({
      Basin: ["Campos"],
      "Bag-Software-Agent": ["test"],
    });
    expect(r.manifest.data.find((d) => d.name === "folder")?.info).toBeUndefined();
  });

  it("normalises the manifest: order, CRLF, upper-case hex and spacing do not change it", () => {
    const a = "aa".repeat(32);
    const b = "BB".repeat(32);
    expect(payloadIdentity(`${b}\tdata/z.csv\r\n${a}  data/a.csv\r\n\r\n`)).toBe(
      payloadIdentity(`${a}  data/a.csv\n${b.toLowerCase()}  data/z.csv\n`),
    );
  });

  it("of a run's outputs equals that of a bag made from its outputs folder", async () => {
    const { spec } = project();
    const r = await trackRun(
      spec({
        command: [
          "sh",
          "-c",
          'mkdir -p "$TRACK_RUN_OUTPUTS/m" && echo w > "$TRACK_RUN_OUTPUTS/m/w.bin" && echo 100% > "$TRACK_RUN_OUTPUTS/50%.txt"',
        ],
      }),
      ctx(),
    );
    const outputsFolder = join(r.recordDir, "../../../work", r.runId, "outputs");
    const bag = join(tempDir(), "bag");
    const summary = await createBag(outputsFolder, bag);
    expect(r.manifest.outputsIdentity).toBe(outputsIdentity(r.manifest.outputs));
    expect(summary.payloadIdentity).toBe(r.manifest.outputsIdentity);
  });
});

describe("labels, roles and declared tracking", () => {
  it("takes labels from track-run.yml, the command's lines and --label, later ones winning", async () => {
    const { repo, spec, trust } = project();
    const base = resolveRunSpec(
      { label: ["stage=flag", "owner=ml"], runtime: "host" },
      [
        "sh",
        "-c",
        "echo '::track-run label stage=command'; echo '::track-run label dataset=v2 of rows'; echo '::track-run label bad key=x'",
      ],
      { model: "demo", labels: { stage: "file", team: "search" } },
      repo,
      { ledger: `dir:${join(repo, ".track-run/ledger")}` },
    );
    const r = await trackRun(spec({ ...base, repo, signing: spec({}).signing }), ctx({ trust }));
    expect(r.manifest.labels).toEqual({ stage: "flag", team: "search", dataset: "v2 of rows", owner: "ml" });
    expect(r.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/label line .*"bad key"/)]));
  });

  it("masks a secret value in a label", async () => {
    const { spec } = project();
    const r = await trackRun(
      spec({ env: ["API_TOKEN"], command: ["sh", "-c", 'echo "::track-run label token=$API_TOKEN"'] }),
      ctx({ env: { PATH: process.env.PATH, API_TOKEN: "s3cr3t-value-123456" } }),
    );
    expect(r.manifest.labels?.token).toBe("***");
  });

  it("gives roles by glob and, with track: declared, lists the rest as untracked without a digest", async () => {
    const { spec } = project();
    const write =
      'cd "$TRACK_RUN_OUTPUTS" && mkdir -p model plots/a && echo w > model/w.bin && echo p > plots/a/loss.png && echo s > scratch.tmp';
    const roles = [
      { path: "model/*.bin", role: "model" as const },
      { path: "**/*.png", role: "plot" as const },
    ];
    const all = await trackRun(spec({ command: ["sh", "-c", write], outputRoles: roles }), ctx());
    expect(all.manifest.outputs.map((o) => [o.path, o.role])).toEqual([
      ["model/w.bin", "model"],
      ["plots/a/loss.png", "plot"],
      ["scratch.tmp", undefined],
    ]);
    expect(all.manifest.untracked).toBeUndefined();

    const declared = await trackRun(
      spec({ command: ["sh", "-c", write], outputRoles: roles, track: "declared" }),
      ctx(),
    );
    expect(declared.manifest.outputs.map((o) => o.path)).toEqual(["model/w.bin", "plots/a/loss.png"]);
    expect(declared.manifest.untracked).toEqual([{ path: "scratch.tmp", size: 2 }]);
    // The signed subjects are the tracked outputs only.
    const bundle = JSON.parse(fs.readFileSync(declared.bundlePath, "utf8"));
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8"));
    const names = statement.subject.map((s: { name: string }) => s.name);
    expect(names).toEqual(expect.arrayContaining(["model/w.bin", "plots/a/loss.png"]));
    expect(names).not.toContain("scratch.tmp");
  });

  it("refuses track: declared without globs, naming the fix", () => {
    expect(() =>
      resolveRunSpec({}, ["true"], { model: "m", track: "declared" }, ".", { ledger: "dir:l" }),
    ).toThrow(/track: declared` needs `outputs:` globs/);
  });
});

describe("pipelines of runs", () => {
  it("reads run:RUN[/PATH], links by payload identity, and refuses a changed output", async () => {
    const { repo, spec, trust } = project();
    const prep = await trackRun(
      spec({
        model: "prep",
        command: [
          "sh",
          "-c",
          'mkdir -p "$TRACK_RUN_OUTPUTS/train" && cp raw/rows.csv "$TRACK_RUN_OUTPUTS/train/rows.csv"',
        ],
        data: [{ name: "raw", path: join(repo, "raw") }],
      }),
      ctx({ trust }),
    );
    expect(prep.manifest.links).toBeUndefined();

    const named = await trackRun(
      spec({
        model: "train",
        command: ["sh", "-c", 'test -f "$TRACK_RUN_DATA/prepared/rows.csv"'],
        data: [
          {
            name: "prepared",
            path: `run:${prep.runId}/train`,
            fromRun: { runId: prep.runId, path: "train" },
          },
        ],
      }),
      ctx({ trust }),
    );
    expect(named.status.state).toBe("succeeded");
    expect(named.manifest.data[0]!.fromRun).toEqual({ runId: prep.runId, path: "train" });
    expect(named.manifest.links?.parentRuns).toEqual([prep.runId]);
    // The sub-folder holds the same file as raw/, so its identity is raw's.
    expect(named.manifest.data[0]!.payloadIdentity).toBe(prep.manifest.data[0]!.payloadIdentity);

    // A plain folder copied from the outputs is linked by payload identity.
    const copy = join(tempDir(), "copy");
    fs.cpSync(join(repo, ".track-run/work", prep.runId, "outputs"), copy, { recursive: true });
    const steps: string[] = [];
    const linked = await trackRun(
      spec({ model: "train", data: [{ name: "prepared", path: copy }] }),
      ctx({ trust, onStep: (m: string) => steps.push(m) }),
    );
    expect(linked.manifest.links?.parentRuns).toEqual([prep.runId]);
    expect(linked.manifest.data[0]!.fromRun).toEqual({ runId: prep.runId });
    expect(steps.some((m) => m.includes(`outputs of run ${prep.runId}`) && m.includes("linked"))).toBe(true);

    // Without trust in its signer, the run's record does not count.
    const untrusted = await failure(
      trackRun(
        spec({ data: [{ name: "p", path: `run:${prep.runId}`, fromRun: { runId: prep.runId } }] }),
        ctx(),
      ),
    );
    expect(untrusted.exitCode).toBe(1);
    expect(untrusted.message).toMatch(/not verified/);

    fs.appendFileSync(join(repo, ".track-run/work", prep.runId, "outputs/train/rows.csv"), "3,eggs\n");
    const changed = await failure(
      trackRun(
        spec({ data: [{ name: "p", path: `run:${prep.runId}`, fromRun: { runId: prep.runId } }] }),
        ctx({ trust }),
      ),
    );
    expect(changed.exitCode).toBe(1);
    expect(changed.message).toMatch(/train\/rows\.csv: changed/);
  });
});
