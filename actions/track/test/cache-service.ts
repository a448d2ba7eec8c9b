// The Actions cache service (v1 REST protocol, as @actions/cache speaks it when
// ACTIONS_CACHE_SERVICE_V2 is unset), served for real on loopback.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

interface Entry {
  id: number;
  key: string;
  version: string;
  data: Buffer;
  committed: boolean;
}

export async function startCacheService(): Promise<{
  url: string;
  entries: Entry[];
  close(): Promise<void>;
}> {
  const entries: Entry[] = [];
  let base = "";
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", base);
      const body = Buffer.concat(chunks);
      const json = (code: number, v?: unknown) => {
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(v === undefined ? undefined : JSON.stringify(v));
      };
      // The API needs the job's token; archive downloads are pre-signed URLs and carry none.
      if (url.pathname.startsWith("/_apis/") && !req.headers.authorization?.startsWith("Bearer ")) {
        return json(401, { message: "no token" });
      }
      if (req.method === "GET" && url.pathname === "/_apis/artifactcache/cache") {
        const keys = (url.searchParams.get("keys") ?? "").split(",");
        const version = url.searchParams.get("version");
        const hit = keys
          .map((k) =>
            entries.find((e) => e.committed && e.version === version && (e.key === k || e.key.startsWith(k))),
          )
          .find(Boolean);
        return hit
          ? json(200, {
              cacheKey: hit.key,
              scope: "refs/heads/main",
              archiveLocation: `${base}archives/${hit.id}`,
            })
          : json(204);
      }
      if (req.method === "POST" && url.pathname === "/_apis/artifactcache/caches") {
        const { key, version } = JSON.parse(body.toString()) as { key: string; version: string };
        if (entries.some((e) => e.key === key && e.version === version))
          return json(409, { message: "already exists" });
        const e: Entry = { id: entries.length + 1, key, version, data: Buffer.alloc(0), committed: false };
        entries.push(e);
        return json(201, { cacheId: e.id });
      }
      const m = /^\/_apis\/artifactcache\/caches\/(\d+)$/.exec(url.pathname);
      const e = m ? entries.find((x) => x.id === Number(m[1])) : undefined;
      if (m && e && req.method === "PATCH") {
        const r = /bytes (\d+)-(\d+)\//.exec(String(req.headers["content-range"]));
        const start = Number(r?.[1] ?? 0);
        const grown = Buffer.alloc(Math.max(e.data.length, start + body.length));
        e.data.copy(grown);
        body.copy(grown, start);
        e.data = grown;
        return json(204);
      }
      if (m && e && req.method === "POST") {
        e.committed = true;
        return json(204);
      }
      const a = /^\/archives\/(\d+)$/.exec(url.pathname);
      const archive = a ? entries.find((x) => x.id === Number(a[1])) : undefined;
      if (archive) {
        res.writeHead(200, {
          "Content-Length": archive.data.length,
          "Content-Type": "application/octet-stream",
        });
        return res.end(archive.data);
      }
      json(404, { message: `no route ${req.method} ${url.pathname}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url: base, entries, close: () => new Promise<void>((r) => server.close(() => r())) };
}
