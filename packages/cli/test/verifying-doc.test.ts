// docs/verifying.md, run: records signed by the command line (a key with --rekor against the mock
// Rekor and with --tsa against the mock timestamp authority; keyless against the mock Fulcio and
// Rekor) are checked by the page's own
// scripts, copied from it, with the stock `sigstore` client reading its trusted root from a TUF
// repository on loopback, and with `@sigstore/verify` reading trusted_root.json.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubToken, type SigstoreServices, startSigstore } from "../../core/test/sign/sigstore-services.js";
import { tufRepo } from "../../core/test/sign/tuf-repo.js";

const repoRoot = new URL("../../../", import.meta.url).pathname;
const bin = join(repoRoot, "packages/cli/bin/track-run.js");
const PREDICATE = "https://track-run.dev/attestation/run-manifest/v1";
const WORKFLOW = "https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main";

function exec(args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  exec([bin, ...args], {
    TRACK_RUN_SIGNING_KEY: "",
    TRACK_RUN_KEY: "",
    TRACK_RUN_TSA_URL: "",
    TRACK_RUN_REKOR_URL: "",
    ...env,
  });

/** The fenced block that follows `<!-- test: NAME -->` in docs/verifying.md, written to the work folder. */
function docScript(name: string): string {
  const doc = readFileSync(join(repoRoot, "docs/verifying.md"), "utf8");
  const m = new RegExp(`<!-- test: ${name.replace(".", "\\.")} -->\\n\`\`\`js\\n([\\s\\S]*?)\\n\`\`\``).exec(
    doc,
  );
  if (!m) throw new Error(`docs/verifying.md has no script ${name}`);
  const path = join(root, name);
  writeFileSync(path, m[1]!);
  return path;
}

let svc: SigstoreServices;
let root: string;
let tufEnv: NodeJS.ProcessEnv;
beforeAll(async () => {
  svc = await startSigstore();
  const repo = tufRepo(svc.trustedRoot);
  for (const [name, bytes] of repo.files) svc.files.set(`/tuf/${name}`, bytes);
  root = mkdtempSync(join(tmpdir(), "track-run-verifying-"));
  // The scripts import the packages a user installs: this repository's node_modules stands in.
  symlinkSync(join(repoRoot, "node_modules"), join(root, "node_modules"));
  writeFileSync(join(root, "tuf-root.json"), repo.root);
  writeFileSync(join(root, "trusted_root.json"), JSON.stringify(svc.trustedRoot));
  tufEnv = {
    SIGSTORE_TUF_MIRROR: `${svc.url}/tuf`,
    SIGSTORE_TUF_ROOT: join(root, "tuf-root.json"),
    // The client's TUF cache goes under the data folder.
    XDG_DATA_HOME: join(root, "data"),
  };
  writeFileSync(
    join(root, "m.json"),
    JSON.stringify({
      schemaVersion: "1",
      runId: "tsa-1",
      model: "demo",
      code: { kind: "content", contentDigest: "0".repeat(64) },
      data: [],
      environment: { runtime: "host" },
      invocation: { command: ["true"] },
      outputs: [{ path: "model.bin", sha256: "a".repeat(64), size: 1 }],
      metrics: { final: [] },
      status: { state: "succeeded", exitCode: 0 },
      timing: { startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:01Z" },
    }),
  );
  expect((await cli(["keygen", "--out", join(root, "k")])).code).toBe(0);
});
afterAll(async () => {
  await svc.close();
  rmSync(root, { recursive: true, force: true });
});

/** `track-run verify FILE --key k.pub --trusted-root trusted_root.json --json` in the suite's folder: exit 0, and its result. */
async function verifyWithRoot(file: string) {
  const v = await cli([
    "verify",
    join(root, file),
    "--key",
    join(root, "k.pub"),
    "--trusted-root",
    join(root, "trusted_root.json"),
    "--json",
  ]);
  expect(v.code).toBe(0);
  return JSON.parse(v.stdout) as {
    ok: boolean;
    timestamp?: string;
    checks: Array<{ name: string; ok: boolean; detail: string }>;
  };
}

describe("docs/verifying.md, run", () => {
  it("a record signed with --rekor verifies with the page's sigstore script at default thresholds; one timestamped only, or neither, fails there", async () => {
    const sign = (out: string, extra: string[]) =>
      cli([
        "sign",
        join(root, "m.json"),
        "--key",
        join(root, "k.key"),
        ...extra,
        "--out",
        join(root, out),
        "--json",
      ]);
    const l = await sign("logged.sigstore.json", ["--rekor", svc.url]);
    expect(l.stderr).toBe("");
    expect(JSON.parse(l.stdout)).toMatchObject({ method: "key", timestamped: false, logged: true });
    const s = await sign("stamped.sigstore.json", ["--tsa", svc.url]);
    expect(s.stderr).toBe("");
    expect(JSON.parse(s.stdout)).toMatchObject({ method: "key", timestamped: true, logged: false });
    const u = await sign("plain.sigstore.json", []);
    expect(JSON.parse(u.stdout)).toMatchObject({ method: "key", timestamped: false, logged: false });

    const script = docScript("verify-key.mjs");
    const ok = await exec([script, join(root, "logged.sigstore.json"), join(root, "k.pub")], tufEnv);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`verified: ${PREDICATE}, run tsa-1\n  ${"a".repeat(64)}  model.bin\n`);
    const stampedOnly = await exec(
      [script, join(root, "stamped.sigstore.json"), join(root, "k.pub")],
      tufEnv,
    );
    expect(stampedOnly.code).toBe(1);
    expect(stampedOnly.stderr.trim()).toBe("NOT verified: TLOG_ERROR expected 1 tlog entries, got 0");
    const refused = await exec([script, join(root, "plain.sigstore.json"), join(root, "k.pub")], tufEnv);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe("NOT verified: TIMESTAMP_ERROR expected 1 timestamps, got 0");

    // The page's script for a record timestamped only: the log requirement lowered, the timestamp kept.
    const tsaScript = docScript("verify-key-tsa.mjs");
    const stamped = await exec([tsaScript, join(root, "stamped.sigstore.json"), join(root, "k.pub")], tufEnv);
    expect(stamped.stderr).toBe("");
    expect(stamped.stdout).toBe("verified (timestamp only, no log entry)\n");
    const plain = await exec([tsaScript, join(root, "plain.sigstore.json"), join(root, "k.pub")], tufEnv);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim()).toBe("NOT verified: TIMESTAMP_ERROR expected 1 timestamps, got 0");

    // The page's @sigstore/verify script, with the trusted root as a file, at its defaults.
    const byRoot = docScript("verify-root.mjs");
    const viaFile = (name: string) =>
      exec([byRoot, join(root, name), join(root, "k.pub"), join(root, "trusted_root.json")]);
    const loggedViaFile = await viaFile("logged.sigstore.json");
    expect(loggedViaFile.stderr).toBe("");
    expect(loggedViaFile.stdout).toBe("verified\n");
    const stampedViaFile = await viaFile("stamped.sigstore.json");
    expect(stampedViaFile.code).toBe(1);
    expect(stampedViaFile.stderr).toMatch(/^NOT verified: TLOG_ERROR/);
    const plainViaFile = await viaFile("plain.sigstore.json");
    expect(plainViaFile.code).toBe(1);
    expect(plainViaFile.stderr).toMatch(/^NOT verified: TIMESTAMP_ERROR/);
  });

  it("TRACK_RUN_REKOR_URL stands for --rekor; track-run verify checks the entry against the trusted root", async () => {
    const s = await cli(
      [
        "sign",
        join(root, "m.json"),
        "--key",
        join(root, "k.key"),
        "--out",
        join(root, "env-rekor.sigstore.json"),
      ],
      { TRACK_RUN_REKOR_URL: svc.url },
    );
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/, in Rekor\)$/m);
    const r = await verifyWithRoot("env-rekor.sigstore.json");
    expect(r.ok).toBe(true);
    expect(r.checks.find((c) => c.name === "transparency-log")?.detail).toMatch(
      /in a transparency log of the trusted root$/,
    );
    const bad = await cli([
      "sign",
      join(root, "m.json"),
      "--key",
      join(root, "k.key"),
      "--rekor",
      "ftp://rekor.example",
      "--out",
      join(root, "x.sigstore.json"),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--rekor "ftp:\/\/rekor\.example" is not a Rekor URL/);
  });

  it("track-run verify checks and prints the timestamp; TRACK_RUN_TSA_URL stands for --tsa", async () => {
    const s = await cli(
      ["sign", join(root, "m.json"), "--key", join(root, "k.key"), "--out", join(root, "env.sigstore.json")],
      { TRACK_RUN_TSA_URL: svc.url },
    );
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/, timestamped\)$/m);
    const r = await verifyWithRoot("env.sigstore.json");
    expect(r.ok).toBe(true);
    expect(r.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(r.checks.find((c) => c.name === "timestamp")?.ok).toBe(true);
  });

  it("a --tsa that is not an http(s) URL is bad usage, named", async () => {
    const r = await cli([
      "sign",
      join(root, "m.json"),
      "--key",
      join(root, "k.key"),
      "--tsa",
      "ftp://tsa.example",
      "--out",
      join(root, "x.sigstore.json"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tsa "ftp:\/\/tsa\.example" is not a timestamp authority URL/);
  });

  it("a keyless record verifies with the page's keyless script, for the workflow that signed it only", async () => {
    const s = await cli(
      ["sign", join(root, "m.json"), "--keyless", "--out", join(root, "keyless.sigstore.json")],
      {
        SIGSTORE_ID_TOKEN: githubToken(),
        TRACK_RUN_FULCIO_URL: svc.url,
        TRACK_RUN_REKOR_URL: svc.url,
      },
    );
    expect(s.code).toBe(0);
    const script = docScript("verify-keyless.mjs");
    const ok = await exec([script, join(root, "keyless.sigstore.json"), WORKFLOW], tufEnv);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe(`verified: ${PREDICATE}, run tsa-1, signed by ${WORKFLOW}\n`);
    const other = await exec(
      [script, join(root, "keyless.sigstore.json"), WORKFLOW.replace("acme/models", "acme/other")],
      tufEnv,
    );
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^NOT verified: /);
  });
});
