// Shared by the bench scripts: options, paths, best-of-N timing.
import { join } from "node:path";

export const root = new URL("..", import.meta.url).pathname;
export const node = join(root, "node_modules/.bin/node");
/** The launcher, run as `npx track-run` runs it: through its shebang, with the pinned Node first on PATH. */
export const cli = join(root, "packages/cli/bin/track-run.js");
export const cliEnv = { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH}` };
/** The environment of the benches' git commands: a fixed author and committer. */
export const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "b",
  GIT_AUTHOR_EMAIL: "b@e",
  GIT_COMMITTER_NAME: "b",
  GIT_COMMITTER_EMAIL: "b@e",
};

/** --dir (default bench/.data) and --runs (default `runs`) from the command line. */
export function options(runs) {
  const args = process.argv.slice(2);
  const value = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
  return { dir: value("--dir", join(root, "bench/.data")), runs: Number(value("--runs", runs)) };
}

/** Runs `measure` n times (calling `between` after each) and keeps the fastest, with the largest memory seen. */
export function best(n, measure, between) {
  let b;
  for (let i = 0; i < n; i++) {
    const r = measure();
    const m = typeof r === "number" ? { seconds: r, rssMiB: 0 } : r;
    b =
      !b || m.seconds < b.seconds
        ? { ...m, rssMiB: Math.max(m.rssMiB, b?.rssMiB ?? 0) }
        : { ...b, rssMiB: Math.max(b.rssMiB, m.rssMiB) };
    between?.();
  }
  return b;
}
