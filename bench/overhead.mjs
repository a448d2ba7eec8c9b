#!/usr/bin/env node
// Fixed overhead of a tracked run: `track-run run` (pin code and image, run, hash, sign, record)
// against plain `docker run --rm` of the same image and trivial command, measured in the same run.
// Target: at most 0.15 s more (no data here, so no hashing time).
// Usage: node bench/overhead.mjs [--runs 5]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { best, cli, cliEnv, gitEnv, options } from "./lib.mjs";

const { runs } = options(5);
const image = "track-run/busybox:1";
const repo = mkdtempSync(join(tmpdir(), "track-run-overhead-"));
writeFileSync(join(repo, "README"), "bench\n");
writeFileSync(join(repo, ".gitignore"), ".track-run/\n");
for (const a of [
  ["init", "-q", "-b", "main"],
  ["add", "-A"],
  ["commit", "-q", "-m", "x"],
])
  execFileSync("git", a, { cwd: repo, env: gitEnv });
mkdirSync(join(repo, ".track-run"), { recursive: true });
execFileSync(cli, ["keygen", "--out", join(repo, ".track-run/key")], { env: cliEnv });

function time(cmd, argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, {
    cwd: repo,
    env: { ...cliEnv, TRACK_RUN_CACHE: join(repo, ".cache") },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
try {
  time("docker", ["run", "--rm", image, "true"]);
  const plain = best(runs, () => time("docker", ["run", "--rm", image, "true"]));
  const tracked = best(runs, () =>
    time(cli, [
      "run",
      "--model",
      "bench",
      "--image",
      image,
      "--key",
      join(repo, ".track-run/key.key"),
      "--json",
      "--",
      "true",
    ]),
  );
  const overhead = tracked.seconds - plain.seconds;
  console.log(
    `fixed overhead of a tracked run (baseline plain docker run --rm ${image} true: ${plain.seconds.toFixed(3)} s)`,
  );
  console.log(
    `  track-run run        ${tracked.seconds.toFixed(3)} s  ratio ${(tracked.seconds / plain.seconds).toFixed(2)}  overhead ${overhead.toFixed(3)} s  (target <= 0.15 s)`,
  );
} finally {
  rmSync(repo, { recursive: true, force: true });
}
