#!/usr/bin/env node
// The ledger at scale: ledgers of 100, 1,000 and 10,000 signed runs (copies of one real run's record,
// re-signed with new run ids), on a dir: ledger and on a git: ledger served by `git http-backend` on
// loopback. For `log` (the newest 20), `query` (a filter, sorted, 10 rows), `lineage RUN`, `compare commit:SHA`, `promote` and one `run`'s write, from a
// warm cache (the local index built) and from an empty one (a fresh CI job), it prints:
//   - each read at the largest size against the same read at the smallest (target: within 2x, warm);
//   - a write at the largest size against the smallest (target: within 1.5x), each warm write made
//     after another writer's (the empty cache's) commit;
//   - a cold read's bytes over the wire against one `git clone --depth 1` of the ledger branch
//     (target: within 1.5x);
//   - the first index build against reading the same manifests with `git cat-file --batch`, and
//     reading the records without the index against reading them through a built one (ratios).
// Usage: node bench/ledger.mjs [--runs 100,1000] [--repeat 2] [--kinds dir,git] [--commands log,run,...]
//   (--runs 100,1000,10000 on request; --kinds and --commands measure a part only)
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { cli, cliEnv, gitEnv, root } from "./lib.mjs";

const args = process.argv.slice(2);
const value = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const sizes = value("--runs", "100,1000")
  .split(",")
  .map(Number)
  .sort((a, b) => a - b);
const repeat = Number(value("--repeat", 2));
const kinds = value("--kinds", "dir,git").split(",");
const allCommands = ["log", "query", "lineage", "compare", "promote", "run"];
const only = value("--commands", allCommands.join(",")).split(",");
for (const c of only)
  if (!allCommands.includes(c)) throw new Error(`--commands: no command "${c}"; give some of ${allCommands}`);
const work = mkdtempSync(join(tmpdir(), "track-run-ledger-bench-"));
const gitSync = (argv, o = {}) => {
  const r = spawnSync("git", argv, { env: gitEnv, encoding: "utf8", maxBuffer: 1 << 30, ...o });
  if (r.status !== 0) throw new Error(`git ${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

// The core library and the loopback git server, bundled from their sources for this run.
await build({
  stdin: {
    contents: [
      'export * from "./packages/core/src/index.ts";',
      'export { startGitServer } from "./packages/core/test/git-server.ts";',
    ].join("\n"),
    resolveDir: root,
    loader: "ts",
  },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  external: ["cpu-features", "*.node"],
  outfile: join(work, "lib.mjs"),
  logLevel: "warning",
});
const lib = await import(join(work, "lib.mjs"));

/** Runs a command without blocking this process (the git server answers from here). */
function exec(cmd, argv, o = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const c = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], ...o });
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (err += d));
    c.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0 && !(o.allowFail && code === 1))
        reject(new Error(`${cmd} ${argv.join(" ")} exited ${code}: ${err}`));
      else {
        if (code !== 0 && args.includes("--verbose"))
          console.log(`  (exit ${code}: ${argv.slice(0, 2).join(" ")}: ${err.trim().split("\n").pop()})`);
        resolve({ seconds, out, err, code });
      }
    });
  });
}

// A project with a key and a policy, and one real run recorded with `track-run run --runtime host`.
const proj = join(work, "project");
mkdirSync(join(proj, ".track-run"), { recursive: true });
writeFileSync(join(proj, "README"), "bench\n");
writeFileSync(join(proj, ".gitignore"), ".track-run/\n.cache/\n");
gitSync(["init", "-q", "-b", "main"], { cwd: proj });
gitSync(["add", "-A"], { cwd: proj });
gitSync(["commit", "-q", "-m", "project"], { cwd: proj });
const commit = gitSync(["rev-parse", "HEAD"], { cwd: proj }).trim();
const key = join(proj, ".track-run/key.key");
const pub = join(proj, ".track-run/key.pub");
await exec(cli, ["keygen", "--out", join(proj, ".track-run/key")], { env: cliEnv, cwd: proj });
const policy = join(proj, "policy.json");
writeFileSync(
  policy,
  JSON.stringify({
    model: "bench",
    metrics: { accuracy: { direction: "higher", max_regression: 0.5 } },
    provenance: { signed: true },
  }),
);
const trackRun = (argv, cache, o = {}) =>
  exec(cli, argv, { env: { ...cliEnv, TRACK_RUN_CACHE: cache }, cwd: proj, ...o });
const trainCmd = ["--", "sh", "-c", 'echo \'{"accuracy": 0.9}\' > "$TRACK_RUN_METRICS"'];
/** One `run` of model bench on the host, signed by the bench key, recorded in `ledger`. */
const runArgv = (ledger, ...flags) => [
  "run",
  "--runtime",
  "host",
  "--model",
  "bench",
  "--metrics",
  "metrics.json",
  "--key",
  key,
  "--ledger",
  ledger,
  ...flags,
  ...trainCmd,
];
const template = join(work, "template");
await trackRun(runArgv(`dir:${template}`, "--json"), join(work, "cache-template"));
const templateRun = readdirSync(join(template, "runs"))[0];
const templateFiles = Object.fromEntries(
  readdirSync(join(template, "runs", templateRun)).map((f) => [
    f,
    readFileSync(join(template, "runs", templateRun, f)),
  ]),
);
const statement = lib.statementOf(JSON.parse(templateFiles["bundle.sigstore.json"].toString("utf8")));
const privateKey = lib.readPrivateKey(key);
const trust = { keys: [lib.readPublicKey(pub)] };

const runId = (i) => `bench-${String(i).padStart(6, "0")}`;
/** n signed runs in runs/ of a dir: ledger; the last three are a seed matrix at the project's commit. */
function generate(dir, n) {
  mkdirSync(join(dir, "runs"), { recursive: true });
  for (let i = 0; i < n; i++) {
    const inMatrix = i >= n - 3;
    const m = structuredClone(statement.predicate);
    m.runId = runId(i);
    m.code = { ...m.code, commit: inMatrix ? commit : createHash("sha1").update(`c${i}`).digest("hex") };
    m.invocation = { ...m.invocation, seed: inMatrix ? n - i : i };
    m.metrics = {
      ...m.metrics,
      final: (m.metrics.final ?? []).map((f) => ({ ...f, value: 0.5 + (i % 1000) / 4000 })),
    };
    const bundle = lib.signStatement({ ...statement, predicate: m }, privateKey);
    const folder = join(dir, "runs", m.runId);
    mkdirSync(folder);
    for (const [name, body] of Object.entries(templateFiles))
      if (name !== "bundle.sigstore.json" && name !== "manifest.json")
        writeFileSync(join(folder, name), body);
    writeFileSync(join(folder, "manifest.json"), `${JSON.stringify(m, null, 2)}\n`);
    writeFileSync(join(folder, "bundle.sigstore.json"), `${JSON.stringify(bundle, null, 2)}\n`);
  }
}

const server = await lib.startGitServer(join(work, "git"));
mkdirSync(join(work, "git"), { recursive: true });
/** A git: ledger with the same runs: committed once and pushed with the real git binary. */
function gitLedger(name, from) {
  const bare = join(work, "git", `${name}.git`);
  gitSync(["init", "-q", "--bare", "-b", "main", bare]);
  gitSync(["-C", bare, "config", "http.receivepack", "true"]);
  gitSync(["-C", proj, "push", "-q", bare, "main"]); // a project's repository: code on main
  const gd = join(work, `${name}-work.git`);
  gitSync(["init", "-q", "--bare", gd]);
  gitSync([`--git-dir=${gd}`, `--work-tree=${from}`, "add", "-A"]);
  const tree = gitSync([`--git-dir=${gd}`, "write-tree"]).trim();
  const c = gitSync([`--git-dir=${gd}`, "commit-tree", tree, "-m", "ledger"]).trim();
  gitSync([`--git-dir=${gd}`, "push", "-q", bare, `${c}:refs/heads/track-run-ledger`]);
  rmSync(gd, { recursive: true, force: true });
  return { bare, uri: `git:${server.url(name)}#track-run-ledger` };
}

const results = {}; // results[n][kind][command][warm|cold] = { seconds, bytes? }
let promoted = 0;
const fresh = () => mkdtempSync(join(work, "cache-"));

async function measure(kind, uri, n) {
  const r = {};
  const warmCache = fresh();
  const commands = {
    log: () => ["log", "--ledger", uri, "--trusted-key", pub],
    query: () => [
      "query",
      "metric.accuracy>=0.7",
      "--sort",
      "-metric.accuracy",
      "--limit",
      "10",
      "--ledger",
      uri,
      "--trusted-key",
      pub,
    ],
    lineage: () => ["lineage", runId(Math.floor(n / 2)), "--ledger", uri, "--trusted-key", pub],
    compare: () => ["compare", `commit:${commit}`, "--policy", policy, "--ledger", uri, "--trusted-key", pub],
    promote: () => [
      "promote",
      runId(promoted++ % (n - 3)),
      "--model",
      "bench",
      "--policy",
      policy,
      "--ledger",
      uri,
      "--trusted-key",
      pub,
      "--key",
      key,
    ],
    run: () => runArgv(uri),
  };
  for (const [name, argv] of Object.entries(commands)) {
    if (!only.includes(name)) continue;
    const first = await trackRun(argv(), warmCache, { allowFail: true });
    let warm;
    let cold;
    // The empty cache's command first: for a write it is another writer's commit, which the warm
    // cache's command then fetches (as a CI job does after other jobs wrote).
    for (let i = 0; i < repeat; i++) {
      const before = server.traffic.bytesOut;
      const c = await trackRun(argv(), fresh(), { allowFail: true });
      const bytes = server.traffic.bytesOut - before;
      if (!cold || c.seconds < cold.seconds) cold = { seconds: c.seconds, bytes };
      const w = await trackRun(argv(), warmCache, { allowFail: true });
      if (!warm || w.seconds < warm.seconds) warm = { seconds: w.seconds };
    }
    r[name] = { first: { seconds: first.seconds }, warm, cold };
    console.log(
      `  ${kind} ${n} runs: ${name.padEnd(8)} first ${first.seconds.toFixed(2)} s, warm ${warm.seconds.toFixed(2)} s, empty cache ${cold.seconds.toFixed(2)} s${kind === "git" ? ` (${(cold.bytes / 1e6).toFixed(2)} MB over the wire)` : ""}`,
    );
  }
  return r;
}

/** The first index build and a read without the index, against `git cat-file --batch` of the same files. */
async function indexBuild(bare, uri, n) {
  const store = lib.openLedger(uri, { cacheDir: fresh() });
  await store.snapshot(); // fetched once: what follows reads the local cache repository only
  const time = async (f) => {
    const t0 = process.hrtime.bigint();
    await f();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const plain = await time(async () => (await lib.LedgerReader.open(store, trust)).runs());
  const cacheDir = fresh();
  const buildS = await time(async () => {
    const index = await lib.RunIndex.open(cacheDir, store.uri);
    await (await lib.LedgerReader.open(store, trust, { index })).runs();
    index.close();
  });
  const warmS = await time(async () => {
    const index = await lib.RunIndex.open(cacheDir, store.uri);
    await (await lib.LedgerReader.open(store, trust, { index })).runs();
    index.close();
  });
  // git's own reading of the same files: their object ids listed once (ls-tree), then each read by id
  // (a `branch:path` per file would scan the runs/ tree for every file).
  const t0 = process.hrtime.bigint();
  const input = gitSync(["-C", bare, "ls-tree", "-r", "track-run-ledger", "runs/"])
    .split("\n")
    .filter((l) => /\t(runs\/[^/]+\/(manifest\.json|bundle\.sigstore\.json))$/.test(l))
    .map((l) => l.split(/\s+/)[2])
    .join("\n");
  gitSync(["-C", bare, "cat-file", "--batch"], { input, stdio: ["pipe", "ignore", "pipe"] });
  const catFile = Number(process.hrtime.bigint() - t0) / 1e9;
  const before = server.traffic.bytesOut;
  const dest = join(work, `clone-${n}`);
  await exec(
    "git",
    [
      "clone",
      "-q",
      "--depth",
      "1",
      "--single-branch",
      "-b",
      "track-run-ledger",
      server.url(`ledger-${n}`),
      dest,
    ],
    { env: gitEnv },
  );
  const cloneBytes = server.traffic.bytesOut - before;
  rmSync(dest, { recursive: true, force: true });
  console.log(
    `  git ${n} runs: records read without the index ${plain.toFixed(2)} s, first index build ${buildS.toFixed(2)} s, through the built index ${warmS.toFixed(2)} s, git cat-file --batch ${catFile.toFixed(2)} s, git clone --depth 1 ${(cloneBytes / 1e6).toFixed(2)} MB`,
  );
  return { plain, build: buildS, warm: warmS, catFile, cloneBytes };
}

try {
  for (const n of sizes) {
    console.log(`ledger of ${n} runs`);
    const dir = join(work, `dir-${n}`);
    generate(dir, n);
    const { bare, uri } = gitLedger(`ledger-${n}`, dir);
    results[n] = { index: await indexBuild(bare, uri, n) };
    // The dir: ledger's runs are trusted by their file stats only once older than the racy window.
    await new Promise((r) => setTimeout(r, 2100));
    const dirCopy = join(work, `dir-${n}-bench`);
    cpSync(dir, dirCopy, { recursive: true, preserveTimestamps: true });
    await new Promise((r) => setTimeout(r, 2100));
    if (kinds.includes("dir")) results[n].dir = await measure("dir", `dir:${dirCopy}`, n);
    if (kinds.includes("git")) results[n].git = await measure("git", uri, n);
  }
  const small = sizes[0];
  const large = sizes[sizes.length - 1];
  const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
  console.log(`\nat ${large} runs against the same at ${small} runs:`);
  for (const kind of kinds)
    for (const cmd of only) {
      const write = cmd === "promote" || cmd === "run";
      for (const cache of ["warm", "cold"]) {
        const a = results[large][kind][cmd][cache].seconds;
        const b = results[small][kind][cmd][cache].seconds;
        const target = cache === "warm" ? (write ? " (target 1.5x)" : " (target 2x)") : "";
        console.log(
          `  ${kind} ${cmd.padEnd(8)} ${cache === "warm" ? "warm cache " : "empty cache"} ${ratio(a, b)}${target}  (${a.toFixed(2)} s against ${b.toFixed(2)} s)`,
        );
      }
    }
  console.log(
    "\na cold read's bytes over the wire against one `git clone --depth 1` of the ledger branch (target 1.5x):",
  );
  for (const n of sizes)
    for (const cmd of ["log", "query", "lineage", "compare"]) {
      if (!kinds.includes("git") || !only.includes(cmd)) continue;
      const bytes = results[n].git[cmd].cold.bytes;
      const clone = results[n].index.cloneBytes;
      console.log(
        `  ${n} runs: ${cmd.padEnd(8)} ${ratio(bytes, clone)}  (${(bytes / 1e6).toFixed(2)} MB against ${(clone / 1e6).toFixed(2)} MB)`,
      );
    }
  console.log("\nthe first index build against `git cat-file --batch` of the same manifests and bundles:");
  for (const n of sizes) {
    const x = results[n].index;
    console.log(
      `  ${n} runs: ${ratio(x.build, x.catFile)}  (${x.build.toFixed(2)} s against ${x.catFile.toFixed(2)} s); without the index against through it: ${ratio(x.plain, x.warm)} (${x.plain.toFixed(2)} s against ${x.warm.toFixed(2)} s)`,
    );
  }
} finally {
  await server.close();
  if (args.includes("--keep")) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
