// The fetch of a git: ledger's branch by the git binary, where there is one. A shallow fetch (the tip
// only) must ask for a thin pack to be sent only what changed: without it the remote sends the whole
// tip tree again after every commit anyone else makes (10,000 runs: 4.6 MB and seconds, each time).
// isomorphic-git never asks for one (it cannot store a thin pack where git reads it), so it stays
// the fetch of machines without git (or with a git older than 2.31, which cannot be given the
// token through the environment); git's own fetch completes thin packs as it stores them.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { HttpClient } from "isomorphic-git";
import { execProgram, NOT_FOUND } from "../util/exec.js";
import { okBody } from "./http.js";
import { pktLines, remoteAuth } from "./receive-pack.js";

/**
 * The caller's GIT_* variables git may see: proxy and TLS settings only. Others could point git at
 * another repository, add configuration, or write traces holding the Authorization header.
 */
const KEPT_VARIABLES =
  /^GIT_(SSL_\w+|PROXY_SSL_\w+|HTTP_PROXY_AUTHMETHOD|HTTP_LOW_SPEED_LIMIT|HTTP_LOW_SPEED_TIME|HTTP_USER_AGENT)$/;

let versions: Map<string, boolean> | undefined;

/** Whether this git binary takes configuration from the environment (GIT_CONFIG_COUNT: git 2.31). */
export function gitFetchUsable(git: string): boolean {
  versions ??= new Map();
  let ok = versions.get(git);
  if (ok === undefined) {
    try {
      const m = /git version (\d+)\.(\d+)/.exec(execFileSync(git, ["--version"], { encoding: "utf8" }));
      ok = Boolean(m && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 31)));
    } catch {
      ok = false;
    }
    versions.set(git, ok);
  }
  return ok;
}

/** git's words for a lock another fetch holds, or one a killed fetch left: worth another try. */
const LOCKED = /\.lock|unable to lock|cannot lock|shallow file has changed/i;

/**
 * Fetches refs/heads/BRANCH of `url` into refs/remotes/origin/BRANCH of the bare repository `gitdir`,
 * shallow (depth 1), as a thin pack git completes. Credentials (the token, or a user and password
 * in the URL) go in an Authorization header scoped to the URL, through the environment, never on a
 * command line; git follows no redirect (the header would go with it). One fetch at a time per cache
 * repository (a lock of this process's own). "no-branch" when the remote has no such branch; throws
 * with git's message on any other failure.
 */
export async function gitFetch(o: {
  git: string;
  gitdir: string;
  /** The repository's URL, without credentials (remoteTip's). */
  url: string;
  /** The Authorization header's value (remoteAuth), if any. */
  authorization?: string;
  branch: string;
}): Promise<"fetched" | "no-branch"> {
  const { url, authorization } = o;
  const config: Array<[string, string]> = [["http.followRedirects", "false"]];
  if (authorization) config.push([`http.${url}.extraHeader`, `Authorization: ${authorization}`]);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("GIT_") || KEPT_VARIABLES.test(k)),
    ),
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "",
    SSH_ASKPASS: "",
    GIT_NO_REPLACE_OBJECTS: "1",
    GIT_CONFIG_COUNT: String(config.length),
    ...Object.fromEntries(
      config.flatMap(([k, v], i) => [
        [`GIT_CONFIG_KEY_${i}`, k],
        [`GIT_CONFIG_VALUE_${i}`, v],
      ]),
    ),
  };
  const args = [
    "--git-dir",
    o.gitdir,
    "fetch",
    "--quiet",
    "--no-tags",
    "--depth",
    "1",
    url,
    `+refs/heads/${o.branch}:refs/remotes/origin/${o.branch}`,
  ];
  return withFetchLock(o.gitdir, async () => {
    for (let attempt = 0; ; attempt++) {
      // With the lock held, a lock file git left is stale (a fetch killed midway): it goes.
      for (const f of ["shallow.lock", "packed-refs.lock", `refs/remotes/origin/${o.branch}.lock`])
        fs.rmSync(join(o.gitdir, f), { force: true });
      const r = await execProgram(o.git, args, { env });
      if (r === NOT_FOUND) throw new Error(`${o.git} is not there to fetch with`);
      const { code, stderr } = r;
      if (code === 0) return "fetched";
      if (/couldn't find remote ref/i.test(stderr)) return "no-branch";
      if (attempt < 2 && LOCKED.test(stderr)) continue;
      const said = stderr
        .trim()
        .split("\n")
        .map((l) => l.replace(/^(fatal|error): /, "").trim())
        .filter(Boolean)
        .slice(-6)
        .join("; ");
      throw new Error(said || `git fetch exited ${code}`);
    }
  });
}

/** How long a fetch lock is honoured whatever its holder (another host's, or a process not seen here). */
const LOCK_STALE_MS = 120_000;

/**
 * Runs `f` holding the cache repository's fetch lock: a file made exclusively, naming this host and
 * process. A lock whose process is gone (on this host), or older than 2 minutes, is stale and taken.
 */
async function withFetchLock<T>(gitdir: string, f: () => Promise<T>): Promise<T> {
  const lock = join(gitdir, "track-run-fetch.lock");
  const mine = `${hostname()} ${process.pid}\n`;
  for (let waited = 0; ; ) {
    try {
      fs.writeFileSync(lock, mine, { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let stale = false;
    try {
      const [host, pid] = fs.readFileSync(lock, "utf8").trim().split(" ");
      const age = Date.now() - fs.statSync(lock).mtimeMs;
      stale = age > LOCK_STALE_MS || (host === hostname() && !alive(Number(pid)));
    } catch {
      continue; // released meanwhile
    }
    if (stale) {
      fs.rmSync(lock, { force: true });
      continue;
    }
    const pause = 10 + Math.random() * 40;
    await new Promise((r) => setTimeout(r, pause));
    waited += pause;
    if (waited > LOCK_STALE_MS + 5000) throw new Error(`another process has held ${lock} for over 2 minutes`);
  }
  try {
    return await f();
  } finally {
    try {
      if (fs.readFileSync(lock, "utf8") === mine) fs.rmSync(lock, { force: true });
    } catch {}
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The tip of refs/heads/BRANCH as the remote advertises it (one request, in this process; undefined:
 * no such branch), and the repository's URL as the request reached it: a redirect within the same
 * host and scheme (a renamed repository) is followed, one to another is refused (the token would go
 * with the fetch). An answer that is not git's smart HTTP (a login page, a proxy's) is an error.
 */
export async function remoteTip(o: {
  http: HttpClient;
  url: string;
  branch: string;
  token?: string;
}): Promise<{ tip?: string; url: string }> {
  const { url, authorization } = remoteAuth(o.url, o.token);
  const base = url.replace(/\/$/, "");
  const res = await o.http.request({
    url: `${base}/info/refs?service=git-upload-pack`,
    method: "GET",
    headers: { "user-agent": "git/track-run", ...(authorization ? { authorization } : {}) },
  });
  const body = await okBody(res);
  const asked = new URL(base);
  const reached = new URL(res.url || `${base}/info/refs`);
  if (reached.origin !== asked.origin)
    throw new Error(
      `the remote redirects to ${reached.origin}, another host or scheme; if that is where the ledger lives, give its URL`,
    );
  const type = res.headers?.["content-type"] ?? "";
  const lines = pktLines(body);
  if (
    !type.startsWith("application/x-git-upload-pack-advertisement") ||
    lines[0] !== "# service=git-upload-pack"
  )
    throw new Error(`the remote did not answer as a git server (content type "${type || "none"}")`);
  const want = `refs/heads/${o.branch}`;
  let tip: string | undefined;
  for (const line of lines) {
    if (line.startsWith("ERR ")) throw new Error(`the remote says: ${line.slice(4)}`);
    const m = /^([0-9a-f]{40}) ([^\0]+)/.exec(line);
    if (m?.[2] === want) tip = m[1];
  }
  const repo = `${reached.origin}${reached.pathname.replace(/\/info\/refs$/, "")}`;
  return { ...(tip ? { tip } : {}), url: repo };
}
