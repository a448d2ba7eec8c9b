#!/usr/bin/env node
// Code-pin benchmark: `track-run pin code` on a repository of 50,000 files against the baseline
// `git status --porcelain` plus `git rev-parse HEAD`, measured in the same run (target ratio <= 1.5).
// Usage: node bench/pin-code.mjs [--dir bench/.data] [--runs 5]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { best, cli, cliEnv, options } from "./lib.mjs";

const { dir, runs } = options(5);
const repo = join(dir, "repo-50k");
const env = {
  ...process.env,
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "b@example.org",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "b@example.org",
};

if (!existsSync(join(repo, ".git"))) {
  mkdirSync(repo, { recursive: true });
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(repo, `pkg${d}`), { recursive: true });
    for (let f = 0; f < 500; f++)
      writeFileSync(join(repo, `pkg${d}`, `m${f}.py`), `# module ${d}/${f}\nVALUE = ${d * 500 + f}\n`);
  }
  execFileSync("git", ["init", "-q", "-b", "main"], { cwd: repo, env });
  execFileSync("git", ["add", "-A"], { cwd: repo, env });
  execFileSync("git", ["commit", "-q", "-m", "50k files"], { cwd: repo, env });
  console.error("generated repo-50k (50,000 files, one commit)");
}
// Refresh the index's stat data once so both sides start from the same state.
execFileSync("git", ["status", "--porcelain"], { cwd: repo });

function time(cmd, argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { cwd: repo, encoding: "utf8", maxBuffer: 64 << 20, env: cliEnv });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
const baseline = best(runs, () =>
  time("sh", ["-c", "git status --porcelain >/dev/null && git rev-parse HEAD >/dev/null"]),
);
const ours = best(runs, () => time(cli, ["pin", "code", "--json"]));
console.log(
  `pin code, repository of 50,000 files (baseline git status --porcelain + git rev-parse HEAD: ${baseline.seconds.toFixed(3)} s)`,
);
console.log(
  `  track-run pin code   ${ours.seconds.toFixed(3)} s  ratio ${(ours.seconds / baseline.seconds).toFixed(2)}  (target <= 1.5)`,
);
