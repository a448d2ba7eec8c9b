// A real git smart-HTTP server on loopback: `git http-backend` behind a small CGI bridge. It imports
// nothing of the test runner, so the bench (bench/ledger.mjs) bundles it too.
import { execFileSync, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: "track-run test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "track-run test",
  GIT_COMMITTER_EMAIL: "test@example.com",
};

export interface GitServer {
  /** http://127.0.0.1:PORT/NAME.git for a bare repository made with `repo(NAME)`. */
  url(name: string): string;
  repo(name: string): string;
  root: string;
  /**
   * What went over the wire so far: requests, response bytes (what a reader downloads), request bytes
   * (what a writer pushes), and every Authorization header sent.
   */
  traffic: { requests: number; bytesOut: number; bytesIn: number; authorizations: Set<string> };
  close(): Promise<void>;
}

export async function startGitServer(root: string): Promise<GitServer> {
  const traffic = { requests: 0, bytesOut: 0, bytesIn: 0, authorizations: new Set<string>() };
  const server: Server = createServer((req, res) => {
    traffic.requests++;
    if (req.headers.authorization) traffic.authorizations.add(req.headers.authorization);
    const url = new URL(req.url ?? "/", "http://localhost");
    const child = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REMOTE_USER: "track-run-test",
        REMOTE_ADDR: "127.0.0.1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        ...(req.headers["content-encoding"]
          ? { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) }
          : {}),
        ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
      },
    });
    req.on("data", (d: Buffer) => (traffic.bytesIn += d.length));
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        traffic.bytesOut += chunk.length;
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
        const i = line.indexOf(":");
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === "status") status = Number(v.split(" ")[0]);
        else res.setHeader(k, v);
      }
      res.writeHead(status);
      traffic.bytesOut += head.length - end - 4;
      res.write(head.subarray(end + 4));
    });
    child.stdout.on("end", () => res.end());
    child.on("error", () => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    root,
    traffic,
    url: (name) => `http://127.0.0.1:${port}/${name}.git`,
    /** A bare repository like a project's: code on main; the ledger branch is created by the first write. */
    repo(name) {
      const dir = join(root, `${name}.git`);
      execFileSync("git", ["init", "-q", "--bare", "-b", "main", dir]);
      execFileSync("git", ["-C", dir, "config", "http.receivepack", "true"]);
      // Every pushed object checked by git itself (tree order, commit headers, no dangling delta).
      execFileSync("git", ["-C", dir, "config", "receive.fsckObjects", "true"]);
      const work = `${dir}.seed`;
      execFileSync("git", ["init", "-q", "-b", "main", work]);
      execFileSync("git", ["-C", work, "commit", "-q", "--allow-empty", "-m", "project"], { env: gitEnv });
      execFileSync("git", ["-C", work, "push", "-q", dir, "main"], { env: gitEnv });
      return dir;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
