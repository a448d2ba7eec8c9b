#!/usr/bin/env node
// Bag engine benchmark. Prints each figure as a ratio against a baseline measured in the same run,
// on the same files, with a warm page cache:
//   big set (16 x 128 MiB):   baseline `openssl dgst -sha256` as 2 parallel processes (the hashing limit)
//   small set (50,000 x 4 KiB): baseline coreutils `sha256sum` as 2 parallel processes (xargs -P2)
//   small set, the peer: bagit-python (../shared/peers/bagit-python, run as shipped, 2 processes),
//     creating and validating a bag of a copy of the same files (the shared folder is only read)
//   re-pin of the unchanged small set: against `git status --porcelain` over the same tree,
//     committed (git lstats every file too; its repository lives beside the tree, not inside it),
//     and against Node's floor for the same (bench/stat-floor.mjs)
//   peak memory: max RSS of each track-run process (GNU time)
// Each figure is printed beside its target.
// Usage: node bench/bag.mjs [--dir bench/.data] [--runs 3] [--only big|small]
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { best, cli, cliEnv, gitEnv, node, options, root } from "./lib.mjs";

const { dir, runs } = options(3);
const argv = process.argv.slice(2);
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
const cacheDir = join(dir, "cache");
const bagitPython = join(root, "../shared/peers/bagit-python/bagit.sh");

execFileSync(node, [join(root, "bench/gen-data.mjs"), "--dir", dir], { stdio: "inherit" });

function timed(cmd, argv, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", cmd, ...argv], {
    encoding: "utf8",
    env: { ...cliEnv, TRACK_RUN_CACHE: cacheDir, CI: "true", ...opts.env },
    maxBuffer: 64 * 1024 * 1024,
    shell: false,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0 && !opts.allowFail)
    throw new Error(`${cmd} ${argv.join(" ")} failed (${r.status}):\n${r.stderr}`);
  const rssKiB = Number(r.stderr.trim().split("\n").pop());
  return { seconds, rssMiB: rssKiB / 1024 };
}
function files(d) {
  return readdirSync(d, { recursive: true })
    .map((p) => join(d, p))
    .filter((p) => statSync(p).isFile());
}
function warm(d) {
  spawnSync("sh", ["-c", `find "${d}" -type f -print0 | xargs -0 cat > /dev/null`]);
}
/** Undo an in-place bag: payload back to the top, tag files removed. */
function unbag(d) {
  for (const name of readdirSync(d)) if (name !== "data") rmSync(join(d, name));
  for (const name of readdirSync(join(d, "data"))) renameSync(join(d, "data", name), join(d, name));
  rmSync(join(d, "data"), { recursive: true });
}
const track = (...a) => timed(cli, a);
const ratio = (x, y) => (x / y).toFixed(2);
const out = [];
const report = (line) => {
  out.push(line);
  console.log(line);
};

const none = { seconds: 0, rssMiB: 0 };
let bigPin = none;
let bigCreate = none;
let bigValidate = none;
if (only !== "small") {
  // ---- big set
  const big = join(dir, "big");
  if (existsSync(join(big, "bagit.txt"))) unbag(big);
  warm(big);
  const bigFiles = files(big).sort();
  const halves = [bigFiles.filter((_, i) => i % 2 === 0), bigFiles.filter((_, i) => i % 2 === 1)];
  const openssl = best(runs, () =>
    timed("sh", [
      "-c",
      `openssl dgst -sha256 ${halves[0].join(" ")} > /dev/null & openssl dgst -sha256 ${halves[1].join(" ")} > /dev/null; wait`,
    ]),
  );
  bigPin = best(runs, () => track("pin", "data", big, "--no-cache"));
  bigCreate = best(
    runs,
    () => track("bag", "create", big, "--in-place"),
    () => unbag(big),
  );
  track("bag", "create", big, "--in-place");
  bigValidate = best(runs, () => track("bag", "validate", big));
  unbag(big);
  report(
    `big set, 16 x 128 MiB (baseline openssl dgst -sha256, 2 processes: ${openssl.seconds.toFixed(3)} s)`,
  );
  report(
    `  pin data (hash, nothing written)  ${bigPin.seconds.toFixed(3)} s  ratio ${ratio(bigPin.seconds, openssl.seconds)}  (target <= 1.05)`,
  );
  report(
    `  bag create --in-place             ${bigCreate.seconds.toFixed(3)} s  ratio ${ratio(bigCreate.seconds, openssl.seconds)}  (target <= 1.05)`,
  );
  report(
    `  bag validate                      ${bigValidate.seconds.toFixed(3)} s  ratio ${ratio(bigValidate.seconds, openssl.seconds)}  (target <= 1.05)`,
  );
}
let smallCreate = none;
let smallValidate = none;
let repin = none;
let fullPin = none;
if (only !== "big") {
  // ---- small set
  const small = join(dir, "small");
  if (existsSync(join(small, "bagit.txt"))) unbag(small);
  warm(small);
  const sha256sum = best(runs, () =>
    timed("sh", ["-c", `find "${small}" -type f -print0 | xargs -0 -P2 -n 2000 sha256sum > /dev/null`]),
  );
  // The peer, on a copy (it bags in place too); no bytecode is written next to its source.
  const peerCopy = join(dir, "small-bagit-python");
  rmSync(peerCopy, { recursive: true, force: true });
  cpSync(small, peerCopy, { recursive: true });
  warm(peerCopy);
  const peer = (...a) =>
    timed(bagitPython, ["--processes", "2", ...a], { env: { PYTHONDONTWRITEBYTECODE: "1" } });
  const peerCreate = best(
    runs,
    () => peer("--sha256", peerCopy),
    () => unbag(peerCopy),
  );
  peer("--sha256", peerCopy);
  const peerValidate = best(runs, () => peer("--validate", peerCopy));
  rmSync(peerCopy, { recursive: true, force: true });

  smallCreate = best(
    runs,
    () => track("bag", "create", small, "--in-place"),
    () => unbag(small),
  );
  track("bag", "create", small, "--in-place");
  smallValidate = best(runs, () => track("bag", "validate", small));
  // Re-pin: the first pin fills the stat cache; files older than the cache's racy window are then trusted.
  rmSync(cacheDir, { recursive: true, force: true });
  const old = new Date(Date.now() - 60_000);
  for (const f of files(join(small, "data"))) utimesSync(f, old, old);
  track("pin", "data", small);
  repin = best(runs, () => track("pin", "data", small));
  fullPin = best(runs, () => track("pin", "data", small, "--no-cache"));
  // The floor of a re-pin: git's status of the same tree, committed, its stat data fresh.
  const gitDir = join(dir, "small.git");
  rmSync(gitDir, { recursive: true, force: true });
  const git = (...a) =>
    execFileSync("git", [`--git-dir=${gitDir}`, `--work-tree=${small}`, ...a], {
      env: gitEnv,
      maxBuffer: 64 << 20,
    });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-q", "-m", "small set");
  git("status", "--porcelain");
  const gitStatus = best(runs, () =>
    timed("git", [`--git-dir=${gitDir}`, `--work-tree=${small}`, "status", "--porcelain"]),
  );
  rmSync(gitDir, { recursive: true, force: true });
  // The floor of any re-pin in Node: start, read every folder, lstat every file, on two threads.
  const nodeFloor = best(runs, () => timed(node, [join(root, "bench/stat-floor.mjs"), small]));
  unbag(small);
  const faster = (peerSeconds, ours) => (peerSeconds / ours).toFixed(2);
  report(`small set, 50,000 x 4 KiB (floor sha256sum, 2 processes: ${sha256sum.seconds.toFixed(3)} s)`);
  report(
    `  bag create --in-place             ${smallCreate.seconds.toFixed(3)} s  ${faster(peerCreate.seconds, smallCreate.seconds)}x faster than bagit-python (${peerCreate.seconds.toFixed(3)} s)  (target >= 5)  ratio to sha256sum ${ratio(smallCreate.seconds, sha256sum.seconds)}`,
  );
  report(
    `  bag validate                      ${smallValidate.seconds.toFixed(3)} s  ${faster(peerValidate.seconds, smallValidate.seconds)}x faster than bagit-python (${peerValidate.seconds.toFixed(3)} s)  (target >= 5)  ratio to sha256sum ${ratio(smallValidate.seconds, sha256sum.seconds)}`,
  );
  report(
    `  re-pin unchanged (stat cache)     ${repin.seconds.toFixed(3)} s  ratio to git status ${ratio(repin.seconds, gitStatus.seconds)} (${gitStatus.seconds.toFixed(3)} s)  (target <= 1.5)  ratio to full create ${ratio(repin.seconds, smallCreate.seconds)}; full re-hash pin ${fullPin.seconds.toFixed(3)} s`,
  );
  report(
    `    Node's floor (bench/stat-floor.mjs: start, read every folder, lstat every file, 2 threads) ${nodeFloor.seconds.toFixed(3)} s: ratio to git status ${ratio(nodeFloor.seconds, gitStatus.seconds)}; the re-pin against it ${ratio(repin.seconds, nodeFloor.seconds)}`,
  );
}
const peak = Math.max(
  bigPin.rssMiB,
  bigCreate.rssMiB,
  bigValidate.rssMiB,
  smallCreate.rssMiB,
  smallValidate.rssMiB,
  repin.rssMiB,
  fullPin.rssMiB,
);
report(`peak memory (max RSS of any track-run run above): ${peak.toFixed(0)} MiB  (target < 128)`);
