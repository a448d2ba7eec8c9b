// Bad input, as a user or a script gives it by mistake: every case ends in exit 2 (or 1 for a
// check that failed) with one line naming the input, no stack trace, no hang, nothing left behind.
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bin,
  type CliResult,
  cli,
  crashSigns,
  listing,
  type SignedRun,
  signedRun,
} from "./bad-input-fixtures.js";

/** Exit `code`, one line on stderr naming `input` (details, if any, indented under it), no trace. */
function expectRefused(r: CliResult, code: 1 | 2, input: string | RegExp): void {
  expect(r.signal, `no hang: ${r.stderr}`).toBeNull();
  expect(crashSigns(r.stdout + r.stderr)).toBeUndefined();
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trimEnd().split("\n");
  expect(
    lines.slice(1).every((l) => l.startsWith("  ")),
    r.stderr,
  ).toBe(true);
  if (typeof input === "string") expect(lines[0]).toContain(input);
  else expect(lines[0]).toMatch(input);
}

const isRoot = process.getuid?.() === 0;
const fifoMade = (path: string) => spawnSync("mkfifo", [path]).status === 0;

describe("bad input: exit 2 naming it, no trace, no hang, nothing left", () => {
  let run: SignedRun;
  let root: string;
  let fifo: string;
  /** A 64 KiB tmpfs filled to the last byte (root only). */
  let full: string | undefined;

  beforeAll(() => {
    run = signedRun();
    root = mkdtempSync(join(tmpdir(), "track-run-bad-input-"));
    fifo = join(root, "fifo");
    if (!fifoMade(fifo)) throw new Error("mkfifo failed");
    if (isRoot) {
      const dir = join(root, "full");
      mkdirSync(dir);
      if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]).status === 0) {
        spawnSync("sh", ["-c", `cat /dev/zero > ${dir}/fill 2>/dev/null`]);
        full = dir;
      }
    }
  });

  afterAll(() => {
    if (full) spawnSync("umount", [full]);
    rmSync(root, { recursive: true, force: true });
    rmSync(run.dir, { recursive: true, force: true });
  });

  it("bag create --out /proc/xx is refused at once (it used to hang)", () => {
    const r = cli(["bag", "create", run.bag, "--out", "/proc/xx"], { timeoutMs: 10_000 });
    expectRefused(r, 2, '--out "/proc/xx" is under /proc');
  });

  it("verify /dev/zero is refused at once (it used to hang)", () => {
    expectRefused(
      cli(["verify", "/dev/zero"], { timeoutMs: 10_000 }),
      2,
      'bundle "/dev/zero" is not a regular file',
    );
  });

  it("a FIFO as any input file is refused without waiting for a writer", () => {
    for (const args of [
      ["verify", fifo],
      ["export", "slsa", fifo],
      ["sign", fifo, "--out", join(root, "x.json"), "--unsigned"],
      ["compare", run.runId, "--policy", fifo],
      ["verify", run.bundle, "--trust", fifo],
      ["verify", run.bundle, "--key", fifo],
      ["sign", run.manifest, "--out", join(root, "y.json"), "--key", fifo],
      ["run", "--config", fifo, "--runtime", "host", "--", "true"],
      ["bag", "holey", fifo, "--out", join(root, "holey")],
    ]) {
      expectRefused(cli(args, { cwd: run.dir, timeoutMs: 10_000 }), 2, `"${fifo}" is not a regular file`);
    }
    expect(listing(root)).toEqual(expect.not.arrayContaining(["x.json", "y.json", "holey"]));
  });

  it("run --params /dev/zero is refused before anything runs (it used to hang and ignore SIGTERM)", () => {
    const r = cli(["run", "--model", "spam", "--runtime", "host", "--params", "/dev/zero", "--", "true"], {
      cwd: run.dir,
      timeoutMs: 10_000,
    });
    expectRefused(r, 2, '--params "/dev/zero" is not a regular file');
  });

  it("run --outputs /etc/hostname is refused before the training runs (it used to end in exit 70)", () => {
    const before = listing(join(run.dir, ".track-run/ledger/runs"));
    const marker = join(root, "ran");
    const r = cli(
      ["run", "--model", "spam", "--runtime", "host", "--outputs", "/etc/hostname", "--", "touch", marker],
      { cwd: run.dir },
    );
    expectRefused(r, 2, '--outputs "/etc/hostname" is not a folder');
    expect(existsSync(marker)).toBe(false);
    expect(listing(join(run.dir, ".track-run/ledger/runs"))).toEqual(before);
  });

  it("run --seed -1 is refused before the training runs (it used to run, then record a failure)", () => {
    const before = listing(join(run.dir, ".track-run/ledger/runs"));
    const marker = join(root, "seeded");
    const r = cli(["run", "--model", "spam", "--runtime", "host", "--seed", "-1", "--", "touch", marker], {
      cwd: run.dir,
    });
    expectRefused(r, 2, '--seed "-1" must be a whole number from 0');
    expect(existsSync(marker)).toBe(false);
    expect(listing(join(run.dir, ".track-run/ledger/runs"))).toEqual(before);
  });

  it("export --out /nonexistent/d/x names the missing folder (it used to end in exit 70)", () => {
    expectRefused(
      cli(["export", "slsa", run.bundle, "--out", "/nonexistent/d/x"]),
      2,
      'the folder "/nonexistent/d" does not exist',
    );
  });

  it("sign --out /nonexistent/x/y names the missing folder before signing (it used to end in exit 70)", () => {
    expectRefused(
      cli(["sign", run.manifest, "--out", "/nonexistent/x/y", "--unsigned"]),
      2,
      'the folder "/nonexistent/x" does not exist',
    );
  });

  it("export --out /tmp (a folder) is refused and leaves no temporary file in / (it used to)", () => {
    const before = listing("/");
    expectRefused(
      cli(["export", "slsa", run.bundle, "--out", tmpdir()]),
      2,
      `--out "${tmpdir()}" is a folder`,
    );
    expect(listing("/")).toEqual(before);
  });

  it("bag tar GOOD /nonexistent/x.tar names the missing folder (it used to crash Node)", () => {
    expectRefused(
      cli(["bag", "tar", run.bag, "/nonexistent/x.tar"]),
      2,
      'OUT "/nonexistent/x.tar": the folder "/nonexistent" does not exist',
    );
  });

  it("keygen --out /proc/x/y is refused before any folder is made", () => {
    expectRefused(
      cli(["keygen", "--out", "/proc/x/y"], { timeoutMs: 10_000 }),
      2,
      '--out "/proc/x/y" is under /proc',
    );
  });

  it('a bundle with "signatures":"x" or signatures [null] fails verification (exit 1), never exit 70', () => {
    const b = JSON.parse(readFileSync(run.bundle, "utf8")) as {
      dsseEnvelope: { payload: string; payloadType: string };
    };
    const bundleX = join(root, "sigx.json");
    writeFileSync(bundleX, JSON.stringify({ ...b, dsseEnvelope: { ...b.dsseEnvelope, signatures: "x" } }));
    const envX = join(root, "env-sigx.json");
    writeFileSync(envX, JSON.stringify({ ...b.dsseEnvelope, signatures: "x" }));
    const envNull = join(root, "env-signull.json");
    writeFileSync(envNull, JSON.stringify({ ...b.dsseEnvelope, signatures: [null] }));
    for (const f of [bundleX, envX, envNull]) {
      const r = cli(["verify", f, "--trust", join(run.dir, ".track-run/trust.json")]);
      expect(crashSigns(r.stdout + r.stderr)).toBeUndefined();
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toMatch(/NOT verified/);
    }
  });

  it("a statement with subject [null] fails verification (exit 1), never exit 70", () => {
    const b = JSON.parse(readFileSync(run.bundle, "utf8")) as {
      dsseEnvelope: { payload: string; payloadType: string };
    };
    const statement = JSON.parse(Buffer.from(b.dsseEnvelope.payload, "base64").toString("utf8")) as object;
    const payload = Buffer.from(JSON.stringify({ ...statement, subject: [null] })).toString("base64");
    const f = join(root, "subject-null.json");
    writeFileSync(f, JSON.stringify({ ...b, dsseEnvelope: { ...b.dsseEnvelope, payload } }));
    const outputs = join(root, "outputs");
    mkdirSync(outputs, { recursive: true });
    const r = cli(["verify", f, "--outputs", outputs, "--trust", join(run.dir, ".track-run/trust.json")]);
    expect(crashSigns(r.stdout + r.stderr)).toBeUndefined();
    expect(r.code, r.stderr).toBe(1);
  });

  it("export of a document that is JSON null names it (it used to end in exit 70)", () => {
    const f = join(root, "null.json");
    writeFileSync(f, "null");
    expectRefused(cli(["export", "slsa", f]), 2, `manifest "${f}" is not a valid manifest`);
  });

  it.skipIf(!isRoot)(
    "a full disk: export, sign, keygen, bag create and bag tar name it and leave nothing",
    () => {
      if (!full) return;
      const before = listing(full);
      const cases: Array<[string[], string]> = [
        [["export", "slsa", run.bundle, "--out", join(full, "x.json")], "no space is left on the device"],
        [
          ["sign", run.manifest, "--out", join(full, "b.json"), "--unsigned"],
          "no space is left on the device",
        ],
        [["keygen", "--out", join(full, "k")], "no space is left on the device"],
        [
          ["bag", "create", join(run.dir, "data"), "--out", join(full, "bag")],
          "no space is left on the device",
        ],
        [["bag", "tar", run.bag, join(full, "b.tar")], "no space is left on the device"],
      ];
      for (const [args, message] of cases) {
        const r = cli(args);
        expect(crashSigns(r.stdout + r.stderr)).toBeUndefined();
        expect(r.code, r.stderr).toBe(2);
        // sign --unsigned warns first; the error is the last line.
        expect(r.stderr.trim().split("\n").at(-1)).toContain(message);
        expect(listing(full)).toEqual(before);
      }
    },
  );

  it("bag create removes .OUT.PID.*.partial leftovers of killed processes, and keeps a live one's", () => {
    const out = join(root, "bags");
    mkdirSync(out);
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    }).stdout;
    const leftover = join(out, `.old.${dead}.0123456789ab.partial`);
    mkdirSync(join(leftover, "data"), { recursive: true });
    writeFileSync(join(leftover, "data/big"), "x".repeat(1000));
    const live = join(out, `.busy.${process.pid}.0123456789ab.partial`);
    mkdirSync(live);
    const r = cli(["bag", "create", join(run.dir, "data"), "--out", join(out, "new")]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual([`.busy.${process.pid}.0123456789ab.partial`, "new"]);
  });

  it("output piped into a reader that closes early ends quietly (it used to die with an EPIPE trace)", async () => {
    for (const args of [
      ["--help"],
      ["bag", "--help"],
      ["log", "--ledger", `dir:${join(run.dir, ".track-run/ledger")}`],
    ]) {
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: run.dir,
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.destroy();
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(crashSigns(stderr), stderr).toBeUndefined();
      expect(stderr).toBe("");
      expect(code).toBe(0);
    }
  });

  it("track-run nosuch --help names the unknown command with exit 2 (it used to print the help, exit 0)", () => {
    for (const args of [
      ["nosuch", "--help"],
      ["bag", "nosuch", "-h"],
    ]) {
      const r = cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim()).toBe("error: unknown command 'nosuch'");
    }
    const help = cli(["help", "bag"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: track-run bag/);
  });

  it("SIGTERM ends a run whose command ignores it within 2 s", async () => {
    const child = spawn(
      process.execPath,
      [bin, "run", "--model", "spam", "--runtime", "host", "--", "sh", "-c", 'trap "" TERM; sleep 30'],
      { cwd: run.dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    let sentAt = 0;
    child.stderr.on("data", (d) => {
      stderr += d;
      if (!sentAt && stderr.includes("running sh")) {
        sentAt = Date.now();
        setTimeout(() => child.kill("SIGTERM"), 200);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(Date.now() - sentAt - 200).toBeLessThan(2000);
    expect(code === 143 || code === 1, `exit ${code}: ${stderr}`).toBe(true);
    expect(crashSigns(stderr)).toBeUndefined();
  });
});
