import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commitAll } from "../../core/test/helpers.js";
import { ledgerProject } from "./ledger-project.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;
export function cli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    input: options.input,
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like cli(), without blocking this process (for servers the test itself runs). */
function cliAsync(args: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("track-run command line", () => {
  it("prints help listing the commands and the exit codes", () => {
    const r = cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: track-run/);
    expect(r.stdout).toMatch(/doctor/);
    expect(r.stdout).toMatch(/2 bad usage/);
  });

  it("prints its version", () => {
    const r = cli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("exits 2 with one line on an unknown command", () => {
    const r = cli(["nosuchcmd"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")[0]).toBe("error: unknown command 'nosuchcmd'");
  });

  it("exits 2 on an unknown option", () => {
    const r = cli(["doctor", "--frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it("doctor --json reports every check with state and fix, exit 0 when Node and git are there", () => {
    const r = cli(["doctor", "--json"], { env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" } });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { name: string; state: string; fix?: string }[];
    };
    expect(report.ok).toBe(true);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.node!.state).toBe("ok");
    expect(byName.git!.state).toBe("ok");
    expect(byName.docker!.state).toBe("missing");
    expect(byName.docker!.fix).toMatch(/DOCKER_HOST/);
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(["gpus", "signing-key", "ledger"]));
  });

  it("doctor fails (exit 1) when git is missing", () => {
    const r = cli(["doctor", "--json"], { env: { PATH: "/nonexistent" } });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; state: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === "git")!.state).toBe("missing");
  });
});

describe("track-run bag and pin", () => {
  const root = mkdtempSync(join(tmpdir(), "track-run-cli-"));
  const src = join(root, "src");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "a.txt"), "hello\n");
  writeFileSync(join(src, "sub/b.txt"), "world\n");
  const env = { TRACK_RUN_CACHE: join(root, "cache") };

  it("creates, validates, archives and diffs a bag, with --json results", () => {
    const created = cli(
      ["bag", "create", src, "--out", join(root, "bag"), "--info", "Source=cli test", "--json"],
      { env },
    );
    expect(created.code).toBe(0);
    const summary = JSON.parse(created.stdout) as { digest: string; files: number; payloadOxum: string };
    expect(summary).toMatchObject({ files: 2, payloadOxum: "12.2" });
    expect(summary.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const valid = cli(["bag", "validate", join(root, "bag")]);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toMatch(/valid, BagIt 1\.0, 2 files, 12 bytes, sha256/);
    expect(valid.stdout).toContain(summary.digest);

    expect(cli(["bag", "tar", join(root, "bag"), join(root, "bag.tar.gz")]).code).toBe(0);
    const diff = cli(["bag", "diff", join(root, "bag"), join(root, "bag.tar.gz"), "--json"]);
    expect(JSON.parse(diff.stdout)).toMatchObject({ identical: true, unchanged: 2 });
  });

  it("exits 1 on an invalid bag, listing every problem", () => {
    cli(["bag", "create", src, "--out", join(root, "bad")], { env });
    writeFileSync(join(root, "bad/data/a.txt"), "HELLO\n");
    writeFileSync(join(root, "bad/data/extra"), "x");
    const r = cli(["bag", "validate", join(root, "bad")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/INVALID \(3 problems\)/);
    expect(r.stdout).toMatch(
      /data\/a\.txt: sha256 checksum does not match manifest-sha256\.txt\n\s+expected [0-9a-f]{64}\n\s+actual\s+[0-9a-f]{64}/,
    );
    expect(r.stdout).toMatch(/data\/extra: is in the payload but not listed/);
  });

  it("exits 2 with one line naming bad input", () => {
    const missing = cli(["bag", "validate", join(root, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`track-run: bag "${join(root, "nope")}" does not exist`);
    const noOut = cli(["bag", "create", src]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/exactly one of --out BAG or --in-place/);
    const badAlg = cli(["bag", "create", src, "--out", join(root, "x"), "--alg", "crc32"]);
    expect(badAlg.code).toBe(2);
    expect(badAlg.stderr).toMatch(/--alg "crc32"/);
    const json = cli(["pin", "data", join(root, "nope"), "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: "input-missing" } });
  });

  it("bag holey keeps a list's data/points.csv where it says, and bag create refuses a backslash name (exit 2)", () => {
    const list = join(root, "list.json");
    const body = "x,y\n1,2\n";
    writeFileSync(
      list,
      JSON.stringify([
        {
          url: "https://data.example.org/points.csv",
          length: body.length,
          path: "data/points.csv",
          sha256: createHash("sha256").update(body).digest("hex"),
        },
      ]),
    );
    expect(cli(["bag", "holey", list, "--out", join(root, "holey")]).code).toBe(0);
    expect(readFileSync(join(root, "holey/fetch.txt"), "utf8")).toBe(
      `https://data.example.org/points.csv ${body.length} data/points.csv\n`,
    );
    const odd = join(root, "odd");
    mkdirSync(odd);
    writeFileSync(join(odd, "a\\b.txt"), "x");
    const refused = cli(["bag", "create", odd, "--out", join(root, "odd-bag")]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds 1 name\(s\) with a backslash/);
  });

  it("pins data and re-pins it from the stat cache", () => {
    const first = cli(["pin", "data", src, "--json"], { env });
    expect(first.code).toBe(0);
    const pin = JSON.parse(first.stdout) as { digest: string; source: string; files: number };
    expect(pin).toMatchObject({ source: "folder", files: 2 });
    const text = cli(["pin", "data", src], { env });
    expect(text.stdout).toContain(`digest       ${pin.digest}`);
    expect(text.stdout).toMatch(/re-hashed {4}\d of 2 files/);
    rmSync(join(root, "cache"), { recursive: true, force: true });
  });
});

describe("track-run pin code and pin env", () => {
  it("pins this repository's code as JSON without any credential", () => {
    const r = cli(["pin", "code", "--json"]);
    expect(r.code).toBe(0);
    const pin = JSON.parse(r.stdout) as { kind: string; commit: string };
    expect(pin.kind).toBe("git");
    expect(pin.commit).toMatch(/^[0-9a-f]{40}$/);
  });

  it("exits 2 outside a repository, naming the fix", () => {
    const dir = mkdtempSync(join(tmpdir(), "track-run-nogit-"));
    const r = cli(["pin", "code", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `track-run: source "${dir}" is not inside a git repository; commit it to git, or pass --allow-no-git to pin the folder by content`,
    );
  });

  it("exits 2 with one line when the engine is unreachable", () => {
    const r = cli(["pin", "env", "--image", "anything:1"], {
      env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/no Docker engine answered at unix:\/\/\/nonexistent\/docker\.sock/);
  });

  it("pins the host runtime without an engine", () => {
    const r = cli(["pin", "env", "--runtime", "host", "--json"], {
      env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" },
    });
    expect(r.code).toBe(0);
    const pin = JSON.parse(r.stdout) as {
      runtime: string;
      host: { cpuCount: number };
      gpus: unknown[];
      interpreters: Record<string, string>;
    };
    expect(pin.runtime).toBe("host");
    expect(pin.host.cpuCount).toBeGreaterThan(0);
    expect(pin.gpus).toEqual([]);
    expect(pin.interpreters.node).toMatch(/^v\d+/);
  });
});

describe("track-run keygen, sign, verify, export", () => {
  const root = mkdtempSync(join(tmpdir(), "track-run-sign-"));
  const outputs = join(root, "outputs");
  mkdirSync(outputs);
  writeFileSync(join(outputs, "model.bin"), "weights\n");
  writeFileSync(join(outputs, "metrics.json"), '{"accuracy":0.9}\n');
  const head = spawnSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" }).stdout.trim();
  const bagSrc = join(root, "train");
  mkdirSync(bagSrc);
  writeFileSync(join(bagSrc, "rows.csv"), "a,b\n");

  function manifestFile(dataDigest: string): string {
    const m = {
      schemaVersion: "1",
      runId: "cli-1",
      model: "demo",
      code: { kind: "git", commit: head },
      data: [{ name: "train", digest: dataDigest, payloadOxum: "4.1", files: 1, bytes: 4, location: bagSrc }],
      environment: { runtime: "host" },
      invocation: { command: ["python", "train.py"], seed: 1 },
      outputs: [
        { path: "model.bin", sha256: createHash("sha256").update("weights\n").digest("hex"), size: 8 },
      ],
      metrics: { final: [{ name: "accuracy", value: 0.9 }] },
      status: { state: "succeeded", exitCode: 0 },
      timing: { startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:01:00Z" },
    };
    const p = join(root, "manifest.json");
    writeFileSync(p, JSON.stringify(m));
    return p;
  }

  it("signs with a new key and verifies deep: signature, subjects, bag digest, commit", () => {
    const pin = JSON.parse(cli(["pin", "data", bagSrc, "--json", "--no-cache"]).stdout) as { digest: string };
    expect(cli(["keygen", "--out", join(root, "k")]).code).toBe(0);
    const manifest = manifestFile(pin.digest);
    const bundle = join(root, "run.sigstore.json");
    const s = cli([
      "sign",
      manifest,
      "--key",
      join(root, "k.key"),
      "--outputs",
      outputs,
      "--subject",
      join(outputs, "metrics.json"),
      "--out",
      bundle,
    ]);
    expect(s.code).toBe(0);
    const v = cli(["verify", bundle, "--key", join(root, "k.pub"), "--outputs", outputs, "--deep", "--json"]);
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        "signature",
        "subject model.bin",
        "subject metrics.json",
        "data train",
        "code",
      ]),
    );
  });

  it("exits 1 naming the changed bag on --deep, and the changed subject", () => {
    writeFileSync(join(bagSrc, "rows.csv"), "a,B\n");
    const v = cli(["verify", join(root, "run.sigstore.json"), "--key", join(root, "k.pub"), "--deep"]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/FAIL data train\s+.*has digest sha256:[0-9a-f]{64}, the manifest says/);
    writeFileSync(join(bagSrc, "rows.csv"), "a,b\n");
    writeFileSync(join(outputs, "model.bin"), "other\n");
    const w = cli([
      "verify",
      join(root, "run.sigstore.json"),
      "--key",
      join(root, "k.pub"),
      "--outputs",
      outputs,
    ]);
    expect(w.code).toBe(1);
    expect(w.stdout).toMatch(/FAIL subject model\.bin\s+sha256 is [0-9a-f]{64}, the statement says/);
    writeFileSync(join(outputs, "model.bin"), "weights\n");
  });

  it("exits 1 without a trusted key and 2 for an unreadable key", () => {
    const v = cli(["verify", join(root, "run.sigstore.json"), "--trust", join(root, "none.json")]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/trust file ".*none\.json" does not exist/);
    const n = cli(["verify", join(root, "run.sigstore.json")], { cwd: root });
    expect(n.code).toBe(1);
    expect(n.stdout).toMatch(/no trusted key to check against: pass --key PUB or --trust FILE/);
    const k = cli(
      [
        "sign",
        join(root, "manifest.json"),
        "--key",
        join(root, "missing.key"),
        "--out",
        join(root, "x.json"),
      ],
      { env: { TRACK_RUN_SIGNING_KEY: "" } },
    );
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(
      /signing key ".*missing\.key" does not exist; make one with `track-run keygen --out PREFIX`/,
    );
  });

  it("signs from TRACK_RUN_SIGNING_KEY without printing it", () => {
    const pem = readFileSync(join(root, "k.key"), "utf8");
    const r = cli(
      ["sign", join(root, "manifest.json"), "--outputs", outputs, "--out", join(root, "env.sigstore.json")],
      {
        env: { TRACK_RUN_SIGNING_KEY: pem },
      },
    );
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain("PRIVATE KEY");
    expect(cli(["verify", join(root, "env.sigstore.json"), "--key", join(root, "k.pub")]).code).toBe(0);
  });

  it("exports SLSA, PROV and RO-Crate from a bundle", () => {
    for (const [fmt, key] of [
      ["slsa", "predicateType"],
      ["prov", "prefix"],
      ["ro-crate", "@graph"],
    ] as const) {
      const r = cli(["export", fmt, join(root, "run.sigstore.json")]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toHaveProperty(key);
    }
    expect(cli(["export", "cyclonedx", join(root, "run.sigstore.json")]).code).toBe(2);
    const crate = JSON.parse(
      cli(["export", "ro-crate", join(root, "run.sigstore.json"), "--license", "Apache-2.0"]).stdout,
    ) as { "@graph": Array<Record<string, unknown>> };
    expect(crate["@graph"].find((e) => e["@id"] === "./")?.license).toEqual({
      "@id": "https://spdx.org/licenses/Apache-2.0",
    });
  });
});

describe("keyless signing from the command line", () => {
  it("signs with an OIDC token through Fulcio and Rekor, and verifies with a trusted root and trust identities", async () => {
    const { githubToken, startSigstore } = await import("../../core/test/sign/sigstore-services.js");
    const svc = await startSigstore();
    try {
      const root = mkdtempSync(join(tmpdir(), "track-run-keyless-"));
      const m = {
        schemaVersion: "1",
        runId: "keyless-1",
        model: "demo",
        code: { kind: "content", contentDigest: "0".repeat(64) },
        data: [],
        environment: { runtime: "host" },
        invocation: { command: ["true"] },
        outputs: [],
        metrics: { final: [] },
        status: { state: "succeeded", exitCode: 0 },
        timing: { startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:01Z" },
      };
      writeFileSync(join(root, "m.json"), JSON.stringify(m));
      const env = {
        SIGSTORE_ID_TOKEN: githubToken(),
        TRACK_RUN_FULCIO_URL: svc.url,
        TRACK_RUN_REKOR_URL: svc.url,
        TRACK_RUN_SIGNING_KEY: "",
      };
      const s = await cliAsync(
        ["sign", join(root, "m.json"), "--keyless", "--out", join(root, "k.sigstore.json"), "--json"],
        { env },
      );
      expect(s.stderr).toBe("");
      expect(JSON.parse(s.stdout)).toMatchObject({ method: "keyless" });
      writeFileSync(join(root, "trusted_root.json"), JSON.stringify(svc.trustedRoot));
      writeFileSync(
        join(root, "trust.json"),
        JSON.stringify({
          identities: [
            {
              name: "models CI",
              issuer: "https://token.actions.githubusercontent.com",
              repository: "acme/models",
            },
          ],
        }),
      );
      const v = cli([
        "verify",
        join(root, "k.sigstore.json"),
        "--trust",
        join(root, "trust.json"),
        "--trusted-root",
        join(root, "trusted_root.json"),
        "--json",
      ]);
      expect(v.code).toBe(0);
      expect(JSON.parse(v.stdout).identity).toMatchObject({ repository: "acme/models" });
      const none = await cliAsync(
        ["sign", join(root, "m.json"), "--keyless", "--out", join(root, "x.json")],
        {
          env: {
            ...env,
            TRACK_RUN_FULCIO_URL: "http://127.0.0.1:9",
            TRACK_RUN_REKOR_URL: "http://127.0.0.1:9",
            TRACK_RUN_SIGSTORE_RETRIES: "1",
            TRACK_RUN_SIGSTORE_BACKOFF_MS: "5",
          },
        },
      );
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/kept the unsigned record at .*x\.unsigned\.json/);
      expect(none.stderr).toMatch(/keyless signing failed after 2 attempts/);
    } finally {
      await svc.close();
    }
  });
});

describe("track-run run", () => {
  const engine = spawnSync("docker", ["version"], { encoding: "utf8" }).status === 0;

  function repo(): string {
    const dir = mkdtempSync(join(tmpdir(), "track-run-runcli-"));
    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data/rows.csv"), "1\n2\n");
    writeFileSync(join(dir, ".gitignore"), ".track-run/\n");
    writeFileSync(
      join(dir, "track-run.yml"),
      [
        "model: demo",
        "runtime: docker",
        "image: track-run/busybox:1",
        "data:",
        "  rows: data",
        "seed: 3",
        "command: [sh, -c, 'cat /data/rows/rows.csv > $TRACK_RUN_OUTPUTS/copy.csv; echo ::track-run metric name=rows value=2']",
        "",
      ].join("\n"),
    );
    commitAll(dir);
    return dir;
  }

  it.skipIf(!engine)(
    "runs track-run.yml, makes a local key on first use, and prints runId, status, bundle, manifest",
    () => {
      const dir = repo();
      const r = cli(["run", "--json"], { cwd: dir });
      expect(r.stderr).toMatch(/made a signing key at \.track-run\/keys\/signing\.key/);
      // Its .gitignore came first: `git add -A` never stages the private key.
      expect(readFileSync(join(dir, ".track-run/.gitignore"), "utf8")).toMatch(/^keys\/$/m);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { runId: string; status: string; bundle: string; manifest: string };
      expect(out.status).toBe("succeeded");
      const m = JSON.parse(readFileSync(out.manifest, "utf8")) as {
        seed?: number;
        invocation: { seed: number };
        metrics: { final: unknown[] };
      };
      expect(m.invocation.seed).toBe(3);
      expect(m.metrics.final).toEqual([{ name: "rows", value: 2 }]);
      // The trust file written with the key makes the record verifiable as is.
      expect(cli(["verify", out.bundle], { cwd: dir }).code).toBe(0);
      // Flags override the file; a failing command exits 1 with its record.
      const f = cli(["run", "--json", "--", "sh", "-c", "exit 4"], { cwd: dir });
      expect(f.code).toBe(1);
      expect(JSON.parse(f.stdout)).toMatchObject({
        status: "failed",
        reason: "the command exited with code 4",
        signing: "key",
      });
    },
  );

  it.skipIf(!engine)("records a run cancelled by SIGTERM (as the runner cancels a job)", async () => {
    const dir = repo();
    const child = spawn(process.execPath, [bin, "run", "--json", "--", "sleep", "60"], { cwd: dir });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      if (String(d).includes("running sleep 60")) setTimeout(() => child.kill("SIGTERM"), 500);
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toMatch(/SIGTERM received, stopping the run and recording it as cancelled/);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({
      status: "cancelled",
      reason: "cancelled (SIGTERM); the container was stopped",
    });
  });

  it("refuses a bad run before anything starts (exit 2)", () => {
    const dir = mkdtempSync(join(tmpdir(), "track-run-runbad-"));
    const r = cli(["run", "--model", "m", "--runtime", "host", "--data", "x=/nonexistent", "--", "true"], {
      cwd: dir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--data x=\/nonexistent: "\/nonexistent" does not exist/);
    const noCmd = cli(["run", "--model", "m", "--runtime", "host"], { cwd: dir });
    expect(noCmd.code).toBe(2);
    expect(noCmd.stderr).toMatch(/no command to run/);
  });
});

describe("track-run reproduce and show", () => {
  const engine = spawnSync("docker", ["version"], { encoding: "utf8" }).status === 0;
  it.skipIf(!engine)("reproduces a run bitwise (exit 0), shows it, and exits 1 when the data changed", () => {
    const dir = mkdtempSync(join(tmpdir(), "track-run-repro-"));
    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data/rows.csv"), "1\n2\n");
    // The data is not in git: a reproduction finds it in the working copy, as it is now.
    writeFileSync(join(dir, ".gitignore"), ".track-run/\ndata/\n");
    commitAll(dir);
    const run = cli(
      [
        "run",
        "--json",
        "--model",
        "demo",
        "--image",
        "track-run/busybox:1",
        "--data",
        "rows=data",
        "--",
        "sh",
        "-c",
        "wc -l < /data/rows/rows.csv > $TRACK_RUN_OUTPUTS/n.txt",
      ],
      { cwd: dir },
    );
    expect(run.code).toBe(0);
    const { runId } = JSON.parse(run.stdout) as { runId: string };
    const r = cli(["reproduce", runId, "--json"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: "bitwise", original: { runId } });
    const show = cli(["show", runId], { cwd: dir });
    expect(show.stdout).toMatch(/reproduced 1 time\(s\):\n\s+\S+: bitwise/);
    writeFileSync(join(dir, "data/rows.csv"), "1\n3\n");
    const changed = cli(["reproduce", runId], { cwd: dir });
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(/NOT-REPRODUCIBLE\n\s+data rows: .*data\/rows\.csv changed/);
    expect(cli(["reproduce", "no-such-run"], { cwd: dir }).code).toBe(2);
  });
});

describe("track-run compare, promote, rollback, log, diff, lineage", () => {
  it("gates a first model on bounds, fails a regression naming the rule, promotes, logs, diffs, rolls back", () => {
    const p = ledgerProject({ promote: false });
    const dir = p.dir;
    const first = p.train(0.85);
    const c1 = cli(["compare", first, "--json"], { cwd: dir });
    expect(c1.code).toBe(0);
    const v1 = JSON.parse(c1.stdout) as {
      verdict: { pass: boolean; firstModel: boolean; rules: { rule: string }[] };
    };
    expect(v1.verdict).toMatchObject({ pass: true, firstModel: true });
    expect(v1.verdict.rules.map((r) => r.rule)).toEqual(
      expect.arrayContaining(["min", "signed", "clean_tree", "data_valid"]),
    );
    const p1 = cli(["promote", first, "--model", "spam", "--environment", "prod"], { cwd: dir });
    expect(p1.stdout).toMatch(new RegExp(`promoted ${first} to production of spam \\(#1, previous none\\)`));
    expect(p1.code).toBe(0);

    // A worse candidate: exit 1, the failing rule with value, baseline and threshold.
    const worse = p.train(0.82);
    const c2 = cli(["compare", worse], { cwd: dir });
    expect(c2.code).toBe(1);
    expect(c2.stdout).toMatch(/^spam: FAIL against production/);
    expect(c2.stdout).toMatch(
      /FAIL max_regression accuracy: worse by 0\.03 than production \(0\.85\), more than the allowed 0\.01 \[value 0\.82, baseline 0\.85, delta -0\.03, rule regression <= 0\.01\]/,
    );
    const md = cli(["compare", worse, "--markdown"], { cwd: dir });
    expect(md.code).toBe(1);
    expect(md.stdout).toMatch(/<!-- track-run:compare model=spam -->/);
    expect(md.stdout).toMatch(/\| accuracy \(higher\) \| 0\.85 \| 0\.82 \| -0\.03 \|/);
    expect(md.stdout).toMatch(/_No chart yet: production is this model's first promotion\./);
    // Promoting it re-runs the gate and refuses.
    const p2 = cli(["promote", worse, "--model", "spam"], { cwd: dir });
    expect(p2.code).toBe(1);
    expect(p2.stdout).toMatch(/NOT promoted/);

    // New data, committed: better; diff names the changed file and the metric delta.
    writeFileSync(join(dir, "data/rows.csv"), "1\n2\n3\n");
    writeFileSync(join(dir, "data/extra.csv"), "4\n");
    commitAll(dir, "more rows");
    const better = p.train(0.9);
    expect(cli(["compare", better], { cwd: dir }).code).toBe(0);
    expect(cli(["promote", better, "--model", "spam"], { cwd: dir }).code).toBe(0);
    const d = cli(["diff", first, better], { cwd: dir });
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(
      /code {5}\w+ -> \w+ \(\.track-run\/\.gitignore, \.track-run\/trust\.json, data\/extra\.csv, data\/rows\.csv\)/,
    );
    expect(d.stdout).toMatch(/data {5}rows: changed \(\+1 -0 ~1: \+data\/extra\.csv ~data\/rows\.csv\)/);
    expect(d.stdout).toMatch(/metric {3}accuracy: 0\.85 -> 0\.9 \(\+0\.05\)/);

    const log = cli(["log", "--json"], { cwd: dir });
    const rows = JSON.parse(log.stdout) as { runId: string; production: boolean; metrics: string }[];
    expect(rows.map((r) => r.runId).sort()).toEqual([first, worse, better].sort());
    expect(rows.filter((r) => r.production).map((r) => r.runId)).toEqual([better]);

    // Lineage: the output file (same bytes as the data file) names the run that produced it.
    const sha = createHash("sha256").update("1\n2\n3\n").digest("hex");
    const lineage = cli(["lineage", sha], { cwd: dir });
    expect(lineage.stdout).toMatch(new RegExp(`^file model\\.bin.*\\n  <- run ${better} \\(spam\\)`));
    expect(cli(["lineage", "nothex"], { cwd: dir }).code).toBe(2);

    const rb = cli(["rollback", "--model", "spam"], { cwd: dir });
    expect(rb.stdout).toMatch(new RegExp(`rolled back spam to ${first} \\(#3; was ${better}\\)`));
    const after = JSON.parse(cli(["log", "--json"], { cwd: dir }).stdout) as typeof rows;
    expect(after.filter((r) => r.production).map((r) => r.runId)).toEqual([first]);
  });

  it("exits 2 naming a policy for another model, and a bad policy file", () => {
    const { dir } = ledgerProject({ promote: false });
    const r = cli(["promote", "x", "--model", "other"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the policy is for model spam, not other/);
    writeFileSync(
      join(dir, ".track-run/policy.yml"),
      "model: spam\nmetrics:\n  accuracy: { direction: up }\n",
    );
    const bad = cli(["compare", "x"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/policy\.yml/);
  });
});
