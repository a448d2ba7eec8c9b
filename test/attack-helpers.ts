// The attack suite's set-up: a project with a signing key, a trust file and policies, its ledger
// (dir: in the project, or git: a branch served by `git http-backend` on loopback) holding signed
// runs and signed promotions; copies of it for each attack; the attacker's edits (straight into the
// folder, or clone + edit + commit + push with the real git, as anyone with push access can); and
// what a user can observe afterwards (exit code, message, the ledger's models, files outside).

import { AsyncLocalStorage } from "node:async_hooks";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { type ExpectStatic, expect, it } from "vitest";
import { hostRunArgs } from "../packages/cli/test/ledger-project.js";
import { type GitServer, startGitServer } from "../packages/core/test/git-server.js";

const cliPackage = new URL("../packages/cli/", import.meta.url).pathname;

const distListing = () =>
  listing(join(cliPackage, "dist"))
    .filter((l) => !l.endsWith("/"))
    .sort();

let built: Promise<string> | undefined;
let builtDir: string | undefined;

/** Removes the copy of the command line (after the last attack of the file). */
export function removeBuiltCli(): void {
  if (builtDir) fs.rmSync(builtDir, { recursive: true, force: true });
  builtDir = undefined;
  built = undefined;
}

/**
 * The built command line (`node scripts/bundle.mjs --cli`), copied once for the whole file so that
 * every command of the suite runs the same build, even while the working tree is rebuilt beside it.
 */
export function builtCli(): Promise<string> {
  built ??= (async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "track-run-attacks-cli-"));
    builtDir = dir;
    for (let i = 0; i < 120; i++) {
      const before = distListing();
      fs.rmSync(join(dir, "dist"), { recursive: true, force: true });
      fs.cpSync(join(cliPackage, "bin"), join(dir, "bin"), { recursive: true });
      if (before.length) fs.cpSync(join(cliPackage, "dist"), join(dir, "dist"), { recursive: true });
      const copied = listing(join(dir, "dist"))
        .filter((l) => !l.endsWith("/"))
        .sort();
      if (before.length && JSON.stringify(copied) === JSON.stringify(before)) {
        const v = await exec(process.execPath, [join(dir, "bin/track-run.js"), "--version"]);
        if (v.code === 0) return join(dir, "bin/track-run.js");
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error("the command line is not built: run node scripts/bundle.mjs --cli");
  })();
  return built;
}

export type Kind = "dir" | "git";

export interface Result {
  command: string;
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together: what the user reads. */
  text: string;
}

const identity = {
  GIT_AUTHOR_NAME: "attacker",
  GIT_AUTHOR_EMAIL: "attacker@example.invalid",
  GIT_COMMITTER_NAME: "attacker",
  GIT_COMMITTER_EMAIL: "attacker@example.invalid",
};

/** Runs a program without blocking this process (the git server answers from it). */
export function exec(
  cmd: string,
  args: readonly string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env });
    let stdout = "";
    let stderr = "";
    // A command that hangs (reading a FIFO, say) is killed: its exit code is then null.
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${(o.timeoutMs ?? 60_000) / 1000} s: it hung]`;
      child.kill("SIGKILL");
    }, o.timeoutMs ?? 60_000);
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        command: [
          cmd === process.execPath ? "track-run" : cmd,
          ...(cmd === process.execPath ? args.slice(1) : args),
        ].join(" "),
        code,
        stdout,
        stderr,
        text: stdout + stderr,
      });
    });
  });
}

function mustSucceed(r: Result): Result {
  if (r.code !== 0) throw new Error(`${r.command} exited ${r.code}:\n${r.text}`);
  return r;
}

/** What a failed expectation prints: the command, its exit code and what it said. */
export function said(r: Result): string {
  return `\n$ ${r.command}\n(exit ${r.code})\n${r.text.trim().slice(0, 3000)}\n`;
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\)|\(node:.+\))$/m;

// The checks below are soft: every command of an attack runs and each hole is reported, not only the first.

const running = new AsyncLocalStorage<ExpectStatic>();

/** The running attack's expect (attacks of one ledger kind run side by side). */
export const check = (): ExpectStatic => running.getStore() ?? expect;

/** At most this many attacks at a time: each runs its commands one after another. */
const SLOTS = 3;
let busy = 0;
const queue: Array<() => void> = [];
async function inSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (busy >= SLOTS) await new Promise<void>((r) => queue.push(r));
  busy++;
  try {
    return await fn();
  } finally {
    busy--;
    queue.shift()?.();
  }
}

/** An attack: a test run side by side with the other attacks on its kind of ledger. */
export function attackTest(name: string, fn: () => Promise<void>): void {
  it.concurrent(name, ({ expect: local }) => inSlot(() => running.run(local, fn)));
}

/** Neither a crash (exit 70, a signal) nor a stack trace. */
export function noCrash(r: Result): void {
  check()
    .soft(r.code, `no exit code: killed?${said(r)}`)
    .not.toBeNull();
  check()
    .soft(r.code, `exit 70 is a bug${said(r)}`)
    .not.toBe(70);
  check()
    .soft(STACK.test(r.text), `a stack trace${said(r)}`)
    .toBe(false);
}

/** The command refused: exit 1 or 2, no crash, and its message names each of `names`. */
export function refused(r: Result, ...names: Array<string | RegExp>): void {
  check()
    .soft([1, 2], `refused with exit 1 or 2${said(r)}`)
    .toContain(r.code);
  noCrash(r);
  for (const n of names) {
    if (typeof n === "string")
      check()
        .soft(r.text.includes(n), `the message names ${n}${said(r)}`)
        .toBe(true);
    else
      check()
        .soft(n.test(r.text), `the message matches ${n}${said(r)}`)
        .toBe(true);
  }
}

/** Exit 2 (bad input), naming the input (the value, or a pattern for what names it). */
export function badInput(r: Result, input: string | RegExp): void {
  check()
    .soft(r.code, `exit 2 for bad input ${input}${said(r)}`)
    .toBe(2);
  noCrash(r);
  const named = typeof input === "string" ? r.text.includes(input) : input.test(r.text);
  check()
    .soft(named, `the message names ${input}${said(r)}`)
    .toBe(true);
}

/** The command worked: exit 0, no crash. */
export function worked(r: Result): void {
  check()
    .soft(r.code, `exit 0${said(r)}`)
    .toBe(0);
  noCrash(r);
}

/** A listing of a folder tree: "path sha256" for files, "path -> target" for links, "path/" for folders. */
export function listing(root: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      const rel = relative(root, p);
      if (skip(rel)) continue;
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${rel}/`);
        walk(p);
      } else out.push(`${rel} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`);
    }
  };
  walk(root);
  return out;
}

export interface Runs {
  /** spam, accuracy 0.85: production #1. */
  P1: string;
  /** spam, 0.86: production #2 (production now). */
  P2: string;
  /** spam, 0.84: worse than production by more than the policy allows. */
  W: string;
  /** spam, 0.87: a candidate that passes the gate. */
  B: string;
  /** other, 0.50: production #1 of model other. */
  O1: string;
  /** other, 0.55: production #2 of model other. */
  O2: string;
  /** spam, 0.87, the only run at its own commit (commitC): a candidate named by commit:SHA. */
  C: string;
  commitC: string;
}

/** One attack's own copy of the project and its ledger. */
export interface Fixture {
  kind: Kind;
  runs: Runs;
  /** The folder holding project/ and sentinel/ (and whatever an escape would write). */
  root: string;
  project: string;
  /** track-run in the project, on this fixture's ledger. */
  cli(...args: string[]): Promise<Result>;
  /** The attacker's edit of the ledger: `fn` gets the ledger's folder (dir:, or a clone's work tree for git:). */
  edit(fn: (ledger: string) => void): Promise<void>;
  /** Everything in the ledger but runs/: promotions, production pointers (hidden files left out). */
  models(): string[];
  /** models/<model>/production.json as stored now, or undefined. */
  production(model?: string): { runId?: string } | undefined;
  /** Everything under root except project/: the sentinel folder and anything planted or escaped there. */
  outside(): string[];
}

export interface Project {
  kind: Kind;
  runs: Runs;
  fixture(name: string): Promise<Fixture>;
  close(): Promise<void>;
}

const POLICIES: Record<string, string> = {
  "policy.yml": [
    "model: spam",
    "metrics:",
    "  accuracy: { direction: higher, min: 0.80, max_regression: 0.01 }",
    "provenance: { signed: true, clean_tree: true, data_valid: true }",
  ].join("\n"),
  "policy-other.yml": [
    "model: other",
    "metrics:",
    "  accuracy: { direction: higher, min: 0.40, max_regression: 0.01 }",
    "provenance: { signed: true }",
  ].join("\n"),
  "policy-reproduced.yml": [
    "model: spam",
    "metrics:",
    "  accuracy: { direction: higher, min: 0.80, max_regression: 0.01 }",
    "provenance: { signed: true, clean_tree: true, data_valid: true, reproduced: 1 }",
  ].join("\n"),
  // signed: false, bounds only: a record whose files contradict its own digests must still be refused.
  "policy-lax.yml": [
    "model: spam",
    "metrics:",
    "  accuracy: { direction: higher, min: 0.80 }",
    "provenance: { signed: false }",
  ].join("\n"),
  "policy-min95.yml": [
    "model: spam",
    "metrics:",
    "  accuracy: { direction: higher, min: 0.95 }",
    "provenance: { signed: false }",
  ].join("\n"),
  "traversal-policy.yml": [
    'model: "../../../../escape"',
    "metrics:",
    "  accuracy: { direction: higher, min: 0.80 }",
    "provenance: { signed: true }",
  ].join("\n"),
  "long-policy.yml": [
    `model: ${"m".repeat(300)}`,
    "metrics:",
    "  accuracy: { direction: higher, min: 0.80 }",
    "provenance: { signed: true }",
  ].join("\n"),
};

export const LEDGER_BRANCH = "track-run-ledger";

/** Builds the project once: key, trust, policies, six signed runs, two promotions of each model. */
export async function makeProject(kind: Kind, top: string): Promise<Project> {
  const srv = join(top, "srv");
  fs.mkdirSync(srv, { recursive: true });
  const server: GitServer | undefined = kind === "git" ? await startGitServer(srv) : undefined;
  const project = join(top, "base", "project");
  fs.mkdirSync(join(project, "data"), { recursive: true });
  fs.mkdirSync(join(project, ".track-run"), { recursive: true });
  fs.writeFileSync(join(project, "data/rows.csv"), "1\n2\n");
  fs.writeFileSync(
    join(project, ".gitignore"),
    ".track-run/ledger/\n.track-run/keys/\n.track-run/work/\n.track-run/cache/\n",
  );
  for (const [name, body] of Object.entries(POLICIES))
    fs.writeFileSync(join(project, ".track-run", name), `${body}\n`);
  fs.writeFileSync(
    join(project, ".track-run/trust.json"),
    `${JSON.stringify({ keys: [{ name: "ci", path: "keys/signing.pub" }] }, null, 2)}\n`,
  );

  const envFor = (dir: string, ledger: string): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...identity };
    for (const k of Object.keys(env))
      if (/^(GITHUB_|RUNNER_|ACTIONS_|TRACK_RUN_)/.test(k) || k === "CI") delete env[k];
    return { ...env, TRACK_RUN_LEDGER: ledger, TRACK_RUN_CACHE: join(dir, ".track-run/cache") };
  };
  const bin = await builtCli();
  const cliIn =
    (dir: string, ledger: string) =>
    (...args: string[]) =>
      exec(process.execPath, [bin, ...args], { cwd: dir, env: envFor(dir, ledger) });

  const baseLedger = kind === "git" ? `git:${server!.url("base")}#${LEDGER_BRANCH}` : "dir:.track-run/ledger";
  if (server) server.repo("base");
  const cli = cliIn(project, baseLedger);
  mustSucceed(await cli("keygen", "--out", ".track-run/keys/signing"));
  mustSucceed(await cli("keygen", "--out", ".track-run/keys/evil"));
  const g = (...args: string[]) => {
    const r = spawnSync("git", args, {
      cwd: project,
      env: { ...process.env, ...identity },
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  };
  g("init", "-q", "-b", "main");
  g("add", "-A");
  g("commit", "-q", "-m", "a model");

  const train = async (accuracy: number, model = "spam") => {
    const r = mustSucceed(
      await cli(
        ...hostRunArgs(
          `cp data/rows.csv "$TRACK_RUN_OUTPUTS/model.bin"; echo training ${model}; echo '{"accuracy": ${accuracy}}' > "$TRACK_RUN_METRICS"`,
          { model },
        ),
      ),
    );
    return (JSON.parse(r.stdout) as { runId: string }).runId;
  };
  const promote = async (run: string, model = "spam", policy = ".track-run/policy.yml") =>
    mustSucceed(await cli("promote", run, "--model", model, "--policy", policy));

  const P1 = await train(0.85);
  await promote(P1);
  const P2 = await train(0.86);
  await promote(P2);
  const W = await train(0.84);
  const B = await train(0.87);
  const O1 = await train(0.5, "other");
  await promote(O1, "other", ".track-run/policy-other.yml");
  const O2 = await train(0.55, "other");
  await promote(O2, "other", ".track-run/policy-other.yml");
  fs.writeFileSync(join(project, "candidate.txt"), "a change under review\n");
  g("add", "-A");
  g("commit", "-q", "-m", "a candidate");
  const commitC = spawnSync("git", ["rev-parse", "HEAD"], { cwd: project, encoding: "utf8" }).stdout.trim();
  const C = await train(0.87);
  const runs: Runs = { P1, P2, W, B, O1, O2, C, commitC };

  const fixture = async (name: string): Promise<Fixture> => {
    const root = join(top, name);
    const dir = join(root, "project");
    fs.mkdirSync(root);
    fs.cpSync(project, dir, { recursive: true, verbatimSymlinks: true });
    fs.mkdirSync(join(root, "sentinel"));
    fs.writeFileSync(join(root, "sentinel/keep.txt"), "nothing may be written beside me\n");
    const bare = join(srv, `${name}.git`);
    if (server) fs.cpSync(join(srv, "base.git"), bare, { recursive: true });
    const ledger = server ? `git:${server.url(name)}#${LEDGER_BRANCH}` : "dir:.track-run/ledger";
    const ledgerDir = join(dir, ".track-run/ledger");
    const gitBare = (...args: string[]) =>
      spawnSync("git", ["--git-dir", bare, ...args], { encoding: "utf8" });
    let edits = 0;
    return {
      kind,
      runs,
      root,
      project: dir,
      cli: cliIn(dir, ledger),
      async edit(fn) {
        if (!server) {
          fn(ledgerDir);
          return;
        }
        const work = join(top, `${name}-attacker-${++edits}`);
        const env = { ...process.env, ...identity };
        mustSucceed(await exec("git", ["clone", "-q", "-b", LEDGER_BRANCH, server.url(name), work], { env }));
        fn(work);
        mustSucceed(await exec("git", ["-C", work, "add", "-A"], { env }));
        mustSucceed(
          await exec("git", ["-C", work, "commit", "-q", "--allow-empty", "-m", "edit the ledger"], { env }),
        );
        mustSucceed(
          await exec("git", ["-C", work, "push", "-q", "origin", `HEAD:${LEDGER_BRANCH}`], { env }),
        );
      },
      models() {
        if (!server) return listing(ledgerDir, (rel) => rel === "runs" || /(^|\/)\./.test(rel));
        const r = gitBare("ls-tree", "-r", "--full-tree", LEDGER_BRANCH);
        return r.stdout.split("\n").filter((l) => l && !l.split("\t")[1]!.startsWith("runs/"));
      },
      production(model = "spam") {
        let body: string | undefined;
        if (!server) {
          try {
            body = fs.readFileSync(join(ledgerDir, "models", model, "production.json"), "utf8");
          } catch {
            body = undefined;
          }
        } else {
          const r = gitBare("show", `${LEDGER_BRANCH}:models/${model}/production.json`);
          body = r.status === 0 ? r.stdout : undefined;
        }
        try {
          return body === undefined ? undefined : (JSON.parse(body) as { runId?: string });
        } catch {
          return {};
        }
      },
      outside: () => listing(root, (rel) => rel === "project"),
    };
  };
  return { kind, runs, fixture, close: async () => server?.close() };
}

// Edits an attacker makes, on a ledger folder (a dir: ledger, or a clone of the ledger branch).

export const runDir = (ledger: string, id: string) => join(ledger, "runs", id);

export function readJson(path: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path, "utf8")) as Record<string, unknown>;
}

export function writeJson(path: string, doc: unknown): void {
  fs.writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Sets the final value of metric `name` in a manifest document. */
export function withMetric(m: Record<string, unknown>, name: string, value: number): Record<string, unknown> {
  const metrics = m.metrics as { final: Array<{ name: string; value: number }> };
  return {
    ...m,
    metrics: { ...metrics, final: metrics.final.map((x) => (x.name === name ? { ...x, value } : x)) },
  };
}

/** Copies a run folder's files (not following links) into `to`, replacing what is there. */
export function copyRun(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const n of fs.readdirSync(from)) fs.copyFileSync(join(from, n), join(to, n));
}

/** Cuts a file to its first half. */
export function truncate(path: string): void {
  const body = fs.readFileSync(path);
  fs.writeFileSync(path, body.subarray(0, Math.floor(body.length / 2)));
}

/** The files of models/<model>/promotions/ whose names start with the record number `seq`. */
export function promotionFiles(ledger: string, model: string, seq: number): string[] {
  const dir = join(ledger, "models", model, "promotions");
  const prefix = String(seq).padStart(6, "0");
  return fs
    .readdirSync(dir)
    .filter((n) => n.startsWith(prefix))
    .map((n) => join(dir, n));
}

/** A run id of the form track-run gives its runs, never used in the ledger. */
export function freshRunId(n: number): string {
  return `20261130-2359${String(n).padStart(2, "0")}-c0ffee`;
}

/**
 * A hand-written unsigned record (record.unsigned.json, as `run --unsigned` writes one) made from the
 * signed record of run `from`: its statement's manifest changed by `change`, under the id `id`.
 */
export function forgeUnsigned(
  ledger: string,
  from: string,
  id: string,
  change: (m: Record<string, unknown>) => Record<string, unknown>,
): void {
  const src = runDir(ledger, from);
  const dst = runDir(ledger, id);
  fs.mkdirSync(dst, { recursive: true });
  const bundle = readJson(join(src, "bundle.sigstore.json")) as { dsseEnvelope: { payload: string } };
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8")) as {
    predicate: Record<string, unknown>;
    subject: Array<{ name: string }>;
  };
  const manifest = change({ ...statement.predicate, runId: id });
  const forged = {
    ...statement,
    predicate: manifest,
    subject: statement.subject.filter((s) => s.name !== "track-run/metrics.json"),
  };
  writeJson(join(dst, "record.unsigned.json"), {
    payloadType: "application/vnd.in-toto+json",
    payload: Buffer.from(JSON.stringify(forged)).toString("base64"),
    signatures: [],
  });
  writeJson(join(dst, "manifest.json"), manifest);
  for (const n of fs.readdirSync(src).filter((n) => n === "log.txt" || n.startsWith("data-")))
    fs.copyFileSync(join(src, n), join(dst, n));
}
