#!/usr/bin/env node
// Bag engine benchmark. Prints each figure as a ratio against a baseline measured in the same run,
// on the same files, with a warm page cache:
//   big set (16 x 128 MiB):   baseline `openssl dgst -sha256` as 2 parallel processes (the hashing limit)
//   small set (50,000 x 4 KiB): baseline coreutils `sha256sum` as 2 parallel processes (xargs -P2)
//   re-pin of unchanged small set: against track-run's own full create of it
//   peak memory: max RSS of each track-run process (GNU time)
// bagit-python cannot be installed here (no PyPI); its figures on this machine type, from the issue
// (2 processes: 2.2 s create, 2.7 s validate of the small set), are printed as a reference only.
// Usage: node bench/bag.mjs [--dir bench/.data] [--runs 3]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { best, cli, cliEnv, node, options, root } from "./lib.mjs";

const { dir, runs } = options(3);
const cacheDir = join(dir, "cache");

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
const bigPin = best(runs, () => track("pin", "data", big, "--no-cache"));
const bigCreate = best(
  runs,
  () => track("bag", "create", big, "--in-place"),
  () => unbag(big),
);
track("bag", "create", big, "--in-place");
const bigValidate = best(runs, () => track("bag", "validate", big));
unbag(big);
report(`big set, 16 x 128 MiB (baseline openssl dgst -sha256, 2 processes: ${openssl.seconds.toFixed(3)} s)`);
report(
  `  pin data (hash, nothing written)  ${bigPin.seconds.toFixed(3)} s  ratio ${ratio(bigPin.seconds, openssl.seconds)}  (target <= 1.15)`,
);
report(
  `  bag create --in-place             ${bigCreate.seconds.toFixed(3)} s  ratio ${ratio(bigCreate.seconds, openssl.seconds)}  (target <= 1.15)`,
);
report(
  `  bag validate                      ${bigValidate.seconds.toFixed(3)} s  ratio ${ratio(bigValidate.seconds, openssl.seconds)}  (target <= 1.15)`,
);

// ---- small set
const small = join(dir, "small");
if (existsSync(join(small, "bagit.txt"))) unbag(small);
warm(small);
const sha256sum = best(runs, () =>
  timed("sh", ["-c", `find "${small}" -type f -print0 | xargs -0 -P2 -n 2000 sha256sum > /dev/null`]),
);
const smallCreate = best(
  runs,
  () => track("bag", "create", small, "--in-place"),
  () => unbag(small),
);
track("bag", "create", small, "--in-place");
const smallValidate = best(runs, () => track("bag", "validate", small));
// Re-pin: the first pin fills the stat cache; files older than the cache's racy window are then trusted.
rmSync(cacheDir, { recursive: true, force: true });
const old = new Date(Date.now() - 60_000);
for (const f of files(join(small, "data"))) utimesSync(f, old, old);
track("pin", "data", small);
const repin = best(runs, () => track("pin", "data", small));
const fullPin = best(runs, () => track("pin", "data", small, "--no-cache"));
unbag(small);
report(`small set, 50,000 x 4 KiB (baseline sha256sum, 2 processes: ${sha256sum.seconds.toFixed(3)} s)`);
report(
  `  bag create --in-place             ${smallCreate.seconds.toFixed(3)} s  ratio ${ratio(smallCreate.seconds, sha256sum.seconds)}`,
);
report(
  `  bag validate                      ${smallValidate.seconds.toFixed(3)} s  ratio ${ratio(smallValidate.seconds, sha256sum.seconds)}`,
);
report(
  `  reference only, not measured here: bagit-python 2 processes 2.2 s create, 2.7 s validate -> speed-up ${ratio(2.2, smallCreate.seconds)}x create, ${ratio(2.7, smallValidate.seconds)}x validate (target >= 3)`,
);
report(
  `  re-pin unchanged (stat cache)     ${repin.seconds.toFixed(3)} s  ratio to full create ${ratio(repin.seconds, smallCreate.seconds)}  (target <= 0.10); full re-hash pin ${fullPin.seconds.toFixed(3)} s`,
);
const peak = Math.max(
  bigPin.rssMiB,
  bigCreate.rssMiB,
  bigValidate.rssMiB,
  smallCreate.rssMiB,
  smallValidate.rssMiB,
  repin.rssMiB,
);
report(`peak memory (max RSS of any track-run run above): ${peak.toFixed(0)} MiB  (target < 200)`);
