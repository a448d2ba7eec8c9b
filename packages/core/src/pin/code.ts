// The code pin: the commit a run used, and everything that says whether the tree matched it.
// The git binary does the work when it exists (its `status` uses the index's stat data and is
// ~100x faster than a JavaScript status walk on large trees); isomorphic-git reads the
// repository where no git binary is installed.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import type { CodePin, DirtyState } from "../__generated__/index.js";
import { CheckFailedError, UsageError } from "../errors.js";
import { execProgram, NOT_FOUND } from "../util/exec.js";
import { stripCredentials } from "../util/secrets.js";

export interface CodePinOptions {
  /** Refuse a dirty tree (exit 1), listing the files. */
  strict?: boolean;
  /** Not a repository: pin the folder by content (a bag of it) instead of failing. */
  allowNoGit?: boolean;
  /** Which implementation reads the repository; "auto" prefers the git binary. */
  engine?: "auto" | "binary" | "isomorphic";
  /** Stat-cache folder for the content pin of --allow-no-git. */
  cacheDir?: string;
}

/** The environment every git call runs with: no prompts, no pager, no user config surprises. */
const GIT_ENV: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GIT_"))),
  GIT_TERMINAL_PROMPT: "0",
  GIT_OPTIONAL_LOCKS: "0",
  LC_ALL: "C",
};

async function git(
  dir: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string } | undefined> {
  const r = await execProgram("git", ["-C", dir, "-c", "core.quotepath=off", ...args], {
    env: GIT_ENV,
    timeoutMs: 120_000,
  });
  return r === NOT_FOUND ? undefined : r;
}

async function gitOut(dir: string, args: string[]): Promise<string | undefined> {
  const r = await git(dir, args);
  return r && r.code === 0 ? r.stdout : undefined;
}

export async function pinCode(path: string, options: CodePinOptions = {}): Promise<CodePin> {
  const dir = resolve(path);
  if (!fs.existsSync(dir)) throw new UsageError("input-missing", `source "${path}" does not exist`);
  const engine = options.engine ?? "auto";
  // "auto" asks the git binary straight away; only when it is not installed does isomorphic-git read.
  let pin = engine === "isomorphic" ? undefined : await binaryPin(dir);
  if (pin === NOT_FOUND) {
    if (engine === "binary")
      throw new UsageError(
        "git-missing",
        "the git binary is not installed; install git or use the isomorphic engine",
      );
    pin = undefined;
  }
  if (pin === undefined) {
    const root = await isomorphicRoot(dir);
    pin = root ? await isomorphicPin(root) : NOT_A_REPO;
  }
  if (pin === NOT_A_REPO) {
    if (!options.allowNoGit) {
      throw new UsageError(
        "not-a-repository",
        `source "${path}" is not inside a git repository; commit it to git, or pass --allow-no-git to pin the folder by content`,
      );
    }
    const { pinData } = await import("../bag/pin.js");
    // track-run's own folder (keys, ledger, work) is bookkeeping, not source.
    const content = await pinData(dir, {
      ignore: [".track-run"],
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    });
    return { kind: "content", contentDigest: content.digest.slice("sha256:".length) };
  }
  if (options.strict && pin.dirty) {
    const d = pin.dirty;
    throw new CheckFailedError(
      "dirty-tree",
      `the working tree of "${path}" has uncommitted changes (--strict); commit or stash them`,
      {
        details: [
          ...d.modified.map((f) => `modified:  ${f}`),
          ...d.added.map((f) => `added:     ${f}`),
          ...d.deleted.map((f) => `deleted:   ${f}`),
          ...d.untracked.map((f) => `untracked: ${f}`),
        ],
      },
    );
  }
  return pin;
}

const NOT_A_REPO = Symbol("not-a-repository");

// ---------------------------------------------------------------- git binary

/**
 * Four git calls at once, status started first (measured: parallel beats any serial order); the pin, NOT_A_REPO, or
 * NOT_FOUND when git is not installed.
 */
async function binaryPin(dir: string): Promise<CodePin | typeof NOT_A_REPO | typeof NOT_FOUND> {
  // status first: it is the long one (it lstats every tracked file); each spawn blocks this thread
  // for a moment, so the others start while it runs.
  const statusRun = git(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all"]);
  const [revs, show, remotes, status] = await Promise.all([
    execProgram(
      "git",
      ["-C", dir, "rev-parse", "--show-toplevel", "--is-shallow-repository", "--symbolic-full-name", "HEAD"],
      { env: GIT_ENV },
    ),
    gitOut(dir, [
      "show",
      "-s",
      "--format=%H%x00%T%x00%an <%ae>%x00%cI%x00%D",
      "--decorate-refs=refs/tags/",
      "HEAD",
    ]),
    gitOut(dir, ["config", "--get-regexp", "^remote\\..*\\.url$"]),
    statusRun,
  ]);
  if (revs === NOT_FOUND) return NOT_FOUND;
  const lines = revs.stdout.trim().split("\n");
  if (!/^\//.test(lines[0] ?? "")) return NOT_A_REPO;
  const [root, shallow, symbolic] = lines;
  const [commit, tree, author, committedAt, decorations] = (show ?? "").trim().split("\0");
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit) || !tree) {
    throw new UsageError("no-commit", `the repository at "${root}" has no commit yet; commit before pinning`);
  }
  if (status?.code !== 0) {
    throw new UsageError(
      "git-status-failed",
      `git status failed in "${root}": ${status?.stderr.trim() ?? "git not found"}`,
    );
  }
  const branch = symbolic?.startsWith("refs/heads/") ? symbolic.slice("refs/heads/".length) : undefined;
  const pin: CodePin = {
    kind: "git",
    commit,
    tree,
    ref: branch ?? "HEAD",
    detached: branch === undefined,
    tags: (decorations ?? "")
      .split(", ")
      .filter((d) => d.startsWith("tag: "))
      .map((d) => d.slice(5))
      .sort(),
    shallow: shallow === "true",
  };
  if (author) pin.author = author;
  if (committedAt) pin.committedAt = new Date(committedAt).toISOString();
  const remote = pickRemote(remotes);
  if (remote) pin.remote = stripCredentials(remote);
  if (root && fs.existsSync(join(root, ".gitmodules"))) {
    const modules = await gitOut(root, ["submodule", "status", "--recursive"]);
    pin.submodules = (modules ?? "")
      .split("\n")
      .map((l) => /^[ +\-U]([0-9a-f]{40,64}) (\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ path: m[2]!, commit: m[1]! }));
  }
  const dirty = parsePorcelain(status.stdout);
  if (dirty && root) {
    dirty.diffDigest = dirtyDigest(root, dirty);
    pin.dirty = dirty;
  }
  return pin;
}

/** origin's URL, else the first remote's. */
function pickRemote(config: string | undefined): string | undefined {
  const entries = (config ?? "")
    .split("\n")
    .map((l) => /^remote\.(.+)\.url (.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  return (entries.find((m) => m[1] === "origin") ?? entries[0])?.[2];
}

/** Parses `git status --porcelain=v1 -z`; undefined when the tree is clean. */
/** track-run's own folder (keys, ledger, work) is bookkeeping, not source: it never makes a tree dirty. */
function withoutOwnState(files: string[]): string[] {
  return files.filter((f) => f !== ".track-run" && !f.startsWith(".track-run/"));
}

export function parsePorcelain(out: string): DirtyState | undefined {
  const d: DirtyState = { modified: [], added: [], deleted: [], untracked: [] };
  const parts = out.split("\0");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.length < 4) continue;
    const x = p[0]!;
    const y = p[1]!;
    const file = p.slice(3);
    if (x === "?" && y === "?") d.untracked.push(file);
    else if (x === "!") continue;
    else if (x === "R" || x === "C") {
      const from = parts[++i] ?? "";
      d.added.push(file);
      if (x === "R") d.deleted.push(from);
    } else if (x === "A") d.added.push(file);
    else if (x === "D" || y === "D") d.deleted.push(file);
    else d.modified.push(file);
  }
  for (const k of ["modified", "added", "deleted", "untracked"] as const) d[k] = withoutOwnState(d[k]).sort();
  return d.modified.length + d.added.length + d.deleted.length + d.untracked.length ? d : undefined;
}

/**
 * The digest of the working tree's difference from HEAD, the same whichever engine read it: sha256
 * over each modified, added and untracked file's path and current bytes, and each deleted path.
 */
export function dirtyDigest(root: string, d: DirtyState): string {
  const h = createHash("sha256");
  const entries: Array<[kind: string, file: string]> = [
    ...d.modified.map((f) => ["modified", f] as [string, string]),
    ...d.added.map((f) => ["added", f] as [string, string]),
    ...d.untracked.map((f) => ["untracked", f] as [string, string]),
  ];
  for (const [kind, f] of entries) {
    h.update(`${kind}\0${f}\0`);
    try {
      h.update(
        createHash("sha256")
          .update(fs.readFileSync(join(root, f)))
          .digest("hex"),
      );
    } catch {
      h.update("absent");
    }
    h.update("\n");
  }
  for (const f of d.deleted) h.update(`deleted\0${f}\n`);
  return h.digest("hex");
}

// ---------------------------------------------------------------- isomorphic-git

async function isomorphicRoot(dir: string): Promise<string | undefined> {
  const git = await import("isomorphic-git");
  try {
    return await git.findRoot({ fs, filepath: dir });
  } catch {
    return undefined;
  }
}

async function isomorphicPin(root: string): Promise<CodePin> {
  const git = await import("isomorphic-git");
  let commit: string;
  try {
    commit = await git.resolveRef({ fs, dir: root, ref: "HEAD" });
  } catch {
    throw new UsageError("no-commit", `the repository at "${root}" has no commit yet; commit before pinning`);
  }
  const { commit: c } = await git.readCommit({ fs, dir: root, oid: commit });
  const branch = await git.currentBranch({ fs, dir: root, fullname: false });
  const tags: string[] = [];
  for (const t of await git.listTags({ fs, dir: root })) {
    let oid = await git.resolveRef({ fs, dir: root, ref: `refs/tags/${t}` });
    // Peel annotated tags to the commit they name.
    for (let i = 0; i < 5; i++) {
      try {
        const { tag } = await git.readTag({ fs, dir: root, oid });
        oid = tag.object;
      } catch {
        break;
      }
    }
    if (oid === commit) tags.push(t);
  }
  const remotes = await git.listRemotes({ fs, dir: root });
  const remote = (remotes.find((r) => r.remote === "origin") ?? remotes[0])?.url;
  const pin: CodePin = {
    kind: "git",
    commit,
    tree: c.tree,
    ref: branch ?? "HEAD",
    detached: branch === undefined || branch === null,
    tags: tags.sort(),
    shallow: fs.existsSync(join(root, ".git", "shallow")),
    author: `${c.author.name} <${c.author.email}>`,
    committedAt: new Date(c.committer.timestamp * 1000).toISOString(),
  };
  if (remote) pin.remote = stripCredentials(remote);
  const d: DirtyState = { modified: [], added: [], deleted: [], untracked: [] };
  // [file, HEAD, WORKDIR, STAGE]: 0 absent, 1 identical to HEAD, 2 differs.
  for (const [file, head, work, stage] of await git.statusMatrix({ fs, dir: root })) {
    if (head === 0 && work === 2 && stage === 0) d.untracked.push(file);
    else if (head === 0 && stage !== 0) d.added.push(file);
    else if (head === 1 && work === 0) d.deleted.push(file);
    else if (head === 1 && (work === 2 || stage === 2 || stage === 3)) d.modified.push(file);
  }
  for (const k of ["modified", "added", "deleted", "untracked"] as const) d[k] = withoutOwnState(d[k]).sort();
  if (d.modified.length + d.added.length + d.deleted.length + d.untracked.length) {
    d.diffDigest = dirtyDigest(root, d);
    pin.dirty = d;
  }
  return pin;
}
