// One push to a git smart-HTTP remote: a single ref update (old → new, a compare-and-swap the remote
// checks) with a pack of exactly the objects the commit adds. A ledger write knows those objects (the
// blobs and trees it wrote, and the commit), so the push never walks the ledger's tree: its cost does
// not grow with the number of runs.
import type { HttpClient } from "isomorphic-git";
import { okBody } from "./http.js";

const ZERO = "0".repeat(40);

function pktLine(s: string): Buffer {
  const body = Buffer.from(s, "utf8");
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, "0"), "ascii"), body]);
}

/** The pkt-lines of a response (flush packets left out). */
export function pktLines(b: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i + 4 <= b.length) {
    const n = Number.parseInt(b.subarray(i, i + 4).toString("ascii"), 16);
    if (!Number.isFinite(n)) break;
    if (n < 4) {
      i += 4;
      continue;
    }
    out.push(
      b
        .subarray(i + 4, i + n)
        .toString("utf8")
        .replace(/\n$/, ""),
    );
    i += n;
  }
  return out;
}

/**
 * A remote's URL without credentials, and the basic Authorization they make: the token's (as
 * x-access-token), or a user and password written in the URL.
 */
export function remoteAuth(remote: string, token?: string): { url: string; authorization?: string } {
  const url = new URL(remote);
  let user = decodeURIComponent(url.username);
  let password = decodeURIComponent(url.password);
  url.username = "";
  url.password = "";
  if (token) {
    user = "x-access-token";
    password = token;
  }
  return {
    url: url.toString(),
    ...(user || password
      ? { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` }
      : {}),
  };
}

export type PushOutcome = { ok: true } | { ok: false; reason: string };

/**
 * Sends `packfile` and the update of refs/heads/BRANCH from `old` (undefined: the branch is new) to
 * `next`. `{ ok: false }` when the remote refused the update (someone else wrote first, or a hook
 * declined it, as `reason` says); throws when the remote cannot be reached or answers in error.
 */
export async function receivePack(o: {
  http: HttpClient;
  url: string;
  branch: string;
  old: string | undefined;
  next: string;
  packfile: Uint8Array;
  token?: string;
}): Promise<PushOutcome> {
  const { url, authorization } = remoteAuth(o.url, o.token);
  const body = Buffer.concat([
    pktLine(`${o.old ?? ZERO} ${o.next} refs/heads/${o.branch}\0 report-status agent=track-run\n`),
    Buffer.from("0000", "ascii"),
    Buffer.from(o.packfile),
  ]);
  const res = await o.http.request({
    url: `${url.replace(/\/$/, "")}/git-receive-pack`,
    method: "POST",
    headers: {
      "content-type": "application/x-git-receive-pack-request",
      accept: "application/x-git-receive-pack-result",
      "user-agent": "git/track-run",
      ...(authorization ? { authorization } : {}),
    },
    body: (async function* () {
      yield body;
    })(),
  });
  const answer = await okBody(res);
  const lines = pktLines(answer);
  const unpack = lines.find((l) => l.startsWith("unpack "));
  if (unpack !== "unpack ok")
    throw new Error(`the remote did not take the pack (${unpack ?? lines.join("; ")})`);
  const ref = `refs/heads/${o.branch}`;
  if (lines.includes(`ok ${ref}`)) return { ok: true };
  const ng = lines.find((l) => l.startsWith(`ng ${ref} `));
  if (ng) return { ok: false, reason: ng.slice(`ng ${ref} `.length) };
  throw new Error(`the remote did not say whether ${ref} was updated (${lines.join("; ")})`);
}
