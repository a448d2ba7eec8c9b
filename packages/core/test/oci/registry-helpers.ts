// Registries for the OCI tests: the real one on 127.0.0.1:5000 (.ci/run starts it), an extra
// docker-registry with basic auth started by a test, a loopback proxy that injects failures, and a
// tiny server answering the referrers API (docker-registry 2.x has none).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { join } from "node:path";
import type { RunManifest } from "../../src/__generated__/index.js";
import { sampleManifest } from "../sign/fixtures.js";

export const REGISTRY = "127.0.0.1:5000";
export const registryUp = await fetch(`http://${REGISTRY}/v2/`).then(
  (r) => r.ok,
  () => false,
);

export function sha256(b: Uint8Array | string): string {
  return createHash("sha256").update(b).digest("hex");
}

/** A repository name no other test uses. */
export function freshRepo(prefix = "track-run-test"): string {
  return `${prefix}/${randomBytes(5).toString("hex")}`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** A minimal signed-record-like manifest for the outputs written into `dir`. */
export function fakeManifest(
  runId: string,
  dir: string,
  files: Record<string, string | Buffer>,
): RunManifest {
  const outputs = Object.entries(files).map(([path, content]) => {
    fs.mkdirSync(join(dir, path, ".."), { recursive: true });
    fs.writeFileSync(join(dir, path), content);
    return { path, sha256: sha256(content), size: Buffer.byteLength(content) };
  });
  return { ...sampleManifest(outputs), runId, model: "spam" };
}

/** An extra docker-registry on a free loopback port, with basic auth (bcrypt htpasswd). */
export async function startAuthRegistry(
  root: string,
  user: string,
  password: string,
): Promise<{ address: string; stop: () => void }> {
  const hp = spawnSync("htpasswd", ["-Bbn", user, password], { encoding: "utf8" });
  if (hp.status !== 0) throw new Error(`htpasswd failed: ${hp.stderr}`);
  fs.writeFileSync(join(root, "htpasswd"), hp.stdout);
  const port = await freePort();
  fs.writeFileSync(
    join(root, "config.yml"),
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(root, "data")}`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "auth:",
      "  htpasswd:",
      "    realm: test-realm",
      `    path: ${join(root, "htpasswd")}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", join(root, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  const address = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const status = await fetch(`http://${address}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 401) return { address, stop: () => child.kill("SIGTERM") };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGTERM");
  throw new Error(`the test registry did not start: ${log}`);
}

export interface Fault {
  /** Which request it hits: method and a pattern of the path. */
  method: string;
  path: RegExp;
  /** drop: the connection is destroyed once the request body started; or an HTTP status. */
  action: "drop" | number;
  /** How many matching requests it hits (then it passes them). */
  times: number;
}

/** A loopback proxy in front of a registry that injects faults, and logs each request's method and path. */
export async function startFaultProxy(
  target: string,
  faults: Fault[],
): Promise<{ address: string; requests: string[]; injected: string[]; stop: () => Promise<void> }> {
  const requests: string[] = [];
  const injected: string[] = [];
  const server = http.createServer((req, res) => {
    const line = `${req.method} ${req.url}`;
    requests.push(line);
    const f = faults.find((x) => x.times > 0 && x.method === req.method && x.path.test(req.url ?? ""));
    if (f) {
      f.times--;
      injected.push(`${f.action} ${line}`);
      if (f.action === "drop") {
        req.once("data", () => req.socket.destroy());
        req.once("end", () => req.socket.destroy());
        return;
      }
      req.resume();
      req.on("end", () => {
        res.writeHead(f.action as number, { "content-type": "application/json" });
        res.end('{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
      });
      return;
    }
    const [host, port] = target.split(":");
    const up = http.request(
      {
        host,
        port: Number(port),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target },
      },
      (r) => {
        const headers = { ...r.headers };
        // Upload locations point at the registry itself: rewrite them to come through the proxy.
        if (typeof headers.location === "string")
          headers.location = headers.location.replace(`http://${target}`, `http://${address}`);
        res.writeHead(r.statusCode ?? 502, headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    address,
    requests,
    injected,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
