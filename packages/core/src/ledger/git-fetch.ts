// The fetch of a git: ledger's branch by the git binary, where there is one. A shallow fetch (the tip
// only) must ask for a thin pack to be sent only what changed: without it the remote sends the whole
// tip tree again after every commit anyone else makes (10,000 runs: 4.6 MB and seconds, each time).
// isomorphic-git never asks for one (it cannot store a thin pack where git reads it), so it stays
// the fetch of machines without git; git's own fetch completes thin packs as it stores them.
import { spawn } from "node:child_process";
import type { HttpClient } from "isomorphic-git";
import { pktLines, remoteAuth } from "./receive-pack.js";

/** Variables that would point git at another repository, or carry someone else's configuration. */
const REPOSITORY_VARIABLES =
  /^GIT_(DIR|WORK_TREE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|INDEX_FILE|COMMON_DIR|NAMESPACE|SHALLOW_FILE|REPLACE_REF_BASE|GRAFT_FILE|CONFIG_COUNT|CONFIG_KEY_\d+|CONFIG_VALUE_\d+|CONFIG_PARAMETERS|QUARANTINE_PATH)$/;

/**
 * Fetches refs/heads/BRANCH of `url` into refs/remotes/origin/BRANCH of the bare repository `gitdir`,
 * shallow (depth 1), as a thin pack git completes. Credentials (the token, or a user and password in the URL) go in an
 * Authorization header scoped to the URL, through the environment: never on a command line.
 * "no-branch" when the remote has no such branch; throws with git's message on any other failure.
 */
export function gitFetch(o: {
  git: string;
  gitdir: string;
  url: string;
  branch: string;
  token?: string;
}): Promise<"fetched" | "no-branch"> {
  const { url, authorization } = remoteAuth(o.url, o.token);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !REPOSITORY_VARIABLES.test(k))),
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "",
    SSH_ASKPASS: "",
    GIT_NO_REPLACE_OBJECTS: "1",
  };
  if (authorization) {
    env.GIT_CONFIG_COUNT = "1";
    env.GIT_CONFIG_KEY_0 = `http.${url}.extraHeader`;
    env.GIT_CONFIG_VALUE_0 = `Authorization: ${authorization}`;
  }
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
  return new Promise((resolve, reject) => {
    const child = spawn(o.git, args, { stdio: ["ignore", "ignore", "pipe"], env });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve("fetched");
      else if (/couldn't find remote ref/i.test(stderr)) resolve("no-branch");
      else {
        const said = stderr.trim().split("\n").filter(Boolean).pop() ?? `git fetch exited ${code}`;
        reject(new Error(said.replace(/^fatal: /, "")));
      }
    });
  });
}

/**
 * The tip of refs/heads/BRANCH as the remote advertises it (one request, in this process), or
 * undefined when there is no such branch: a fetch is started only when it moved.
 */
export async function remoteTip(o: {
  http: HttpClient;
  url: string;
  branch: string;
  token?: string;
}): Promise<string | undefined> {
  const { url, authorization } = remoteAuth(o.url, o.token);
  const res = await o.http.request({
    url: `${url.replace(/\/$/, "")}/info/refs?service=git-upload-pack`,
    method: "GET",
    headers: { "user-agent": "git/track-run", ...(authorization ? { authorization } : {}) },
  });
  const parts: Uint8Array[] = [];
  if (res.body) for await (const p of res.body) parts.push(p);
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} ${res.statusMessage ?? ""}`.trim());
  const want = `refs/heads/${o.branch}`;
  for (const line of pktLines(Buffer.concat(parts))) {
    const m = /^([0-9a-f]{40}) ([^\0]+)/.exec(line);
    if (m?.[2] === want) return m[1];
  }
  return undefined;
}
