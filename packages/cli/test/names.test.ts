// Names are identifiers, never paths: every run id, model name and data name the command line takes
// is refused with exit 2 and one line naming it and the allowed form, before anything is written.
// verify --outputs never reads a subject outside the folder.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { buildStatement, generateKeys, readPrivateKey, signStatement } from "../../core/src/index.js";
import { sampleManifest } from "../../core/test/sign/fixtures.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
function cli(args: string[], cwd: string) {
  const env = { ...process.env };
  for (const k of ["TRACK_RUN_LEDGER", "TRACK_RUN_KEY", "TRACK_RUN_SIGNING_KEY"]) delete env[k];
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file and folder under `root` with its size and mtime: what changed shows as a difference. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      out.push(`${relative(root, p)} ${st.isDirectory() ? "dir" : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

const RULE = "use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters";
const LONG = "m".repeat(300);

/**
 * A project four folders deep in a fresh temporary folder (so ../../../../x stays inside it, where
 * the test can see it), with a policy for model m and a file of data.
 */
function project(): { top: string; dir: string } {
  const top = mkdtempSync(join(tmpdir(), "track-run-names-"));
  const dir = join(top, "a", "b", "c", "project");
  mkdirSync(join(dir, ".track-run"), { recursive: true });
  writeFileSync(
    join(dir, ".track-run", "policy.yml"),
    "model: m\nmetrics:\n  accuracy: { direction: higher }\n",
  );
  mkdirSync(join(dir, "data"));
  writeFileSync(join(dir, "data", "rows.csv"), "1\n");
  return { top, dir };
}

describe("names at the command line: exit 2 naming the input, nothing written", () => {
  it.each([
    [
      ["promote", "../../../../outside", "--model", "m"],
      `promote RUN "../../../../outside" is not a run id: ${RULE}`,
    ],
    [
      ["promote", "20260101-000000-abcdef", "--model", "../../../../escape"],
      `--model "../../../../escape" is not a model name: ${RULE}`,
    ],
    [["rollback", "--model", "../x"], `--model "../x" is not a model name: ${RULE}`],
    [
      ["run", "--model", LONG, "--runtime", "host", "--", "true"],
      `--model "${"m".repeat(48)}…" (300 characters) is not a model name: ${RULE}`,
    ],
    [
      ["run", "--model", "m", "--data", "../x=data", "--runtime", "host", "--", "true"],
      `--data "../x" is not a data name: ${RULE}`,
    ],
    [["compare", "../x"], `compare RUN "../x" is not a run id: ${RULE}`],
    [
      ["compare", "20260101-000000-abcdef", "--baseline", "../x"],
      `--baseline "../x" is not a run id: ${RULE}`,
    ],
    [["log", "--model", "a/b"], `--model "a/b" is not a model name: ${RULE}`],
    [["diff", "../a", "20260101-000000-abcdef"], `diff RUN_A "../a" is not a run id: ${RULE}`],
    [["show", "../../x"], `show RUN "../../x" is not a run id: ${RULE}`],
  ])("track-run %j", (args, message) => {
    const { top, dir } = project();
    const before = snapshot(top);
    const r = cli(args, dir);
    expect(r.stderr.trim()).toBe(`track-run: ${message}`);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(snapshot(top)).toEqual(before);
  });

  it("a model name from track-run.yml or a policy file is checked by its schema, naming the file", () => {
    const { dir } = project();
    writeFileSync(join(dir, "track-run.yml"), `model: "../../escape"\nruntime: host\ncommand: [true]\n`);
    const r = cli(["run"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/track-run\.yml/);
    expect(r.stderr).toMatch(/\/model/);
    writeFileSync(join(dir, ".track-run", "policy.yml"), `model: "../../escape"\n`);
    const p = cli(["compare", "20260101-000000-abcdef"], dir);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/policy\.yml/);
    expect(p.stderr).toMatch(/\/model/);
  });
});

describe("verify --outputs DIR: subjects stay inside DIR", () => {
  it("refuses a subject ../x (and a sibling sharing DIR's name as a prefix) without reading it: exit 1 naming it", () => {
    const top = mkdtempSync(join(tmpdir(), "track-run-verify-names-"));
    const out = join(top, "out");
    mkdirSync(out);
    mkdirSync(join(top, "out2"));
    writeFileSync(join(top, "x"), "secret");
    writeFileSync(join(top, "out2", "x"), "secret");
    writeFileSync(join(out, "model.bin"), "weights");
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    const statement = buildStatement(
      sampleManifest([{ path: "model.bin", sha256: sha("weights"), size: 7 }]),
      [
        { name: "../x", digest: { sha256: sha("secret") } },
        { name: "../out2/x", digest: { sha256: sha("secret") } },
      ],
    );
    const keys = generateKeys(join(top, "k"), "p256");
    const bundle = join(top, "run.sigstore.json");
    writeFileSync(bundle, JSON.stringify(signStatement(statement, readPrivateKey(keys.privateKey))));
    const r = cli(["verify", bundle, "--key", keys.publicKey, "--outputs", out, "--json"], top);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean; detail: string }>;
    };
    expect(report.checks.filter((c) => c.name.startsWith("subject"))).toEqual([
      { name: "subject model.bin", ok: true, detail: "sha256 matches" },
      {
        name: "subject ../x",
        ok: false,
        detail: "the subject name has a '..' part, so it cannot name a file in the folder",
      },
      {
        name: "subject ../out2/x",
        ok: false,
        detail: "the subject name has a '..' part, so it cannot name a file in the folder",
      },
    ]);
    expect(readFileSync(join(top, "x"), "utf8")).toBe("secret");
  });
});
