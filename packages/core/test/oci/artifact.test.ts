// Outputs as OCI artifacts against the real registry (Debian's docker-registry on 127.0.0.1:5000,
// which has no referrers API: the tag-schema fallback), an extra one with basic auth, a loopback
// proxy injecting a dropped upload and 5xx answers, and a tiny server answering the referrers API.
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  buildStatement,
  CheckFailedError,
  canonicalDigest,
  generateKeys,
  readPrivateKey,
  readPublicKey,
  signRecord,
} from "../../src/index.js";
import {
  BUNDLE_ARTIFACT_TYPE,
  credentialsFor,
  MEDIA_INDEX,
  OciClient,
  OUTPUTS_ARTIFACT_TYPE,
  parseOciReference,
  pullDigest,
  pullOutputs,
  pushRunArtifact,
  RegistryError,
  referrersTag,
} from "../../src/oci/index.js";
import { tempDir } from "../helpers.js";
import {
  fakeManifest,
  freshRepo,
  REGISTRY,
  registryUp,
  sha256,
  startAuthRegistry,
  startFaultProxy,
} from "./registry-helpers.js";

const hasHtpasswd = (() => {
  try {
    return fs.existsSync("/usr/bin/htpasswd");
  } catch {
    return false;
  }
})();

async function signed(m: ReturnType<typeof fakeManifest>) {
  const k = generateKeys(join(tempDir(), "signing"));
  const rec = await signRecord(buildStatement(m), { key: readPrivateKey(k.privateKey) });
  return {
    bundle: Buffer.from(JSON.stringify(rec.document)),
    trust: { keys: [readPublicKey(k.publicKey)] },
  };
}

interface Doc {
  mediaType?: string;
  artifactType?: string;
  config?: unknown;
  layers: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }>;
  manifests: Array<Record<string, unknown>>;
  annotations?: Record<string, string>;
  subject?: { digest: string };
}

/** A manifest or index read with plain HTTP, as another OCI tool reads it. */
async function getDoc(url: string): Promise<Doc> {
  const r = await fetch(url, {
    headers: { accept: `${MEDIA_INDEX}, application/vnd.oci.image.manifest.v1+json` },
  });
  return (await r.json()) as Doc;
}

function client(address: string, repo: string, o: ConstructorParameters<typeof OciClient>[1] = {}) {
  return new OciClient(parseOciReference(`oci://${address}/${repo}`, "test"), { backoffMs: 10, ...o });
}

/** Pushes the run's outputs (in `outputs`) as its artifact, with the bundle when given. */
function pushOutputs(c: OciClient, m: ReturnType<typeof fakeManifest>, outputs: string, bundle?: Buffer) {
  return pushRunArtifact(c, {
    manifest: m,
    manifestDigest: canonicalDigest(m),
    outputsDir: outputs,
    ...(bundle ? { bundle } : {}),
  });
}

describe("references and credentials", () => {
  it("parses oci:// addresses, refusing credentials and bad names with the fix", () => {
    expect(parseOciReference("oci://127.0.0.1:5000/acme/models", "--artifacts")).toMatchObject({
      registry: "127.0.0.1:5000",
      repository: "acme/models",
      baseUrl: "http://127.0.0.1:5000",
    });
    expect(parseOciReference("oci://ghcr.io/acme/models:production", "x")).toMatchObject({
      baseUrl: "https://ghcr.io",
      tag: "production",
    });
    expect(() => parseOciReference("oci://u:p@ghcr.io/acme", "--artifacts")).toThrow(
      /must not carry credentials/,
    );
    expect(() => parseOciReference("ghcr.io/acme", "--artifacts")).toThrow(
      /--artifacts must start with oci:\/\//,
    );
    expect(() => parseOciReference("oci://ghcr.io/Acme", "--artifacts")).toThrow(/not a repository name/);
  });

  it("reads credentials from the environment first, then the docker config's auths", () => {
    const dir = tempDir();
    fs.mkdirSync(join(dir, ".docker"));
    fs.writeFileSync(
      join(dir, ".docker", "config.json"),
      JSON.stringify({
        auths: { "reg.example:5001": { auth: Buffer.from("ci:s3cret:x").toString("base64") } },
      }),
    );
    expect(credentialsFor("reg.example:5001", { env: {}, home: dir })).toEqual({
      username: "ci",
      password: "s3cret:x",
    });
    expect(
      credentialsFor("reg.example:5001", {
        env: { TRACK_RUN_REGISTRY_USER: "u", TRACK_RUN_REGISTRY_PASSWORD: "p" },
        home: dir,
      }),
    ).toEqual({ username: "u", password: "p" });
    expect(credentialsFor("other.example", { env: {}, home: dir })).toBeUndefined();
  });
});

describe.runIf(registryUp)("against docker-registry on 127.0.0.1:5000", () => {
  it("pushes a run's outputs as one artifact with the bundle attached by the referrers tag, and pulls them back checked", async () => {
    const outputs = tempDir();
    const m = fakeManifest("20260101-000000-aaaaaa", outputs, {
      "model/weights.bin": Buffer.from("weights-1"),
      "metrics.json": '{"accuracy":0.9}',
    });
    const { bundle, trust } = await signed(m);
    const repo = freshRepo();
    const c = client(REGISTRY, repo);
    const pushed = await pushOutputs(c, m, outputs, bundle);
    expect(pushed.bundle?.via).toBe("tag");
    expect(pushed.tags).toEqual([m.runId]);

    // What the registry holds, read with plain HTTP calls as another OCI tool would.
    const man = await getDoc(`http://${REGISTRY}/v2/${repo}/manifests/${pushed.digest}`);
    expect(man.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(man.artifactType).toBe(OUTPUTS_ARTIFACT_TYPE);
    expect(man.config).toEqual({
      mediaType: "application/vnd.oci.empty.v1+json",
      digest: expect.any(String),
      size: 2,
    });
    expect(
      man.layers.map(
        (l: { annotations: Record<string, string> }) => l.annotations["org.opencontainers.image.title"],
      ),
    ).toEqual(["model/weights.bin", "metrics.json"]);
    expect(man.layers[0]?.digest).toBe(`sha256:${sha256("weights-1")}`);
    expect(man.annotations).toMatchObject({
      "dev.track-run.run-id": m.runId,
      "dev.track-run.model": "spam",
      "dev.track-run.commit": "a".repeat(40),
    });
    const index = await getDoc(`http://${REGISTRY}/v2/${repo}/manifests/${referrersTag(pushed.digest)}`);
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]).toMatchObject({
      artifactType: BUNDLE_ARTIFACT_TYPE,
      digest: pushed.bundle?.digest,
    });
    const referrer = await getDoc(`http://${REGISTRY}/v2/${repo}/manifests/${pushed.bundle?.digest}`);
    expect(referrer.subject).toMatchObject({ digest: pushed.digest });
    expect(referrer.layers[0]?.mediaType).toBe(BUNDLE_ARTIFACT_TYPE);

    // Pushing again is idempotent: the same digest, the referrer listed once.
    const again = await pushOutputs(c, m, outputs, bundle);
    expect(again.digest).toBe(pushed.digest);
    expect((await c.referrers(pushed.digest, BUNDLE_ARTIFACT_TYPE)).referrers).toHaveLength(1);

    // By digest: the attached bundle verifies, every file is checked against it.
    const out = join(tempDir(), "pulled");
    const pulled = await pullDigest(c, pushed.digest, trust, { outDir: out });
    expect(pulled.runId).toBe(m.runId);
    expect(fs.readFileSync(join(out, "model/weights.bin"), "utf8")).toBe("weights-1");
    expect(fs.readFileSync(join(out, "metrics.json"), "utf8")).toBe('{"accuracy":0.9}');

    // Not trusted: refused (exit 1), nothing written.
    const other = generateKeys(join(tempDir(), "other"));
    const refused = join(tempDir(), "refused");
    await expect(
      pullDigest(c, pushed.digest, { keys: [readPublicKey(other.publicKey)] }, { outDir: refused }),
    ).rejects.toThrow(/no attached bundle verifies/);
    expect(fs.existsSync(refused)).toBe(false);
  });

  it("refuses an artifact whose layer differs from the signed record, naming the file, writing nothing", async () => {
    const outputs = tempDir();
    const m = fakeManifest("20260101-000000-bbbbbb", outputs, { "model.bin": "good", "notes.txt": "n" });
    const repo = freshRepo();
    const c = client(REGISTRY, repo);
    const pushed = await pushOutputs(c, m, outputs);
    const changed = m.outputs.map((o) => (o.path === "model.bin" ? { ...o, sha256: sha256("evil") } : o));
    const parent = tempDir();
    const out = join(parent, "out");
    const err = await pullOutputs(c, { digest: pushed.digest, outputs: changed, outDir: out }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(CheckFailedError);
    expect(err.message).toMatch(/model\.bin: changed/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it("refuses a blob whose bytes the registry serves differently (a tampered store), naming the file", async () => {
    const outputs = tempDir();
    const m = fakeManifest("20260101-000000-cccccc", outputs, { "model.bin": "weights" });
    const repo = freshRepo();
    const reg = await startFaultProxy(REGISTRY, []);
    // A proxy that rewrites the blob's body: the registry (or a cache in front) serves other bytes.
    const tamper = http.createServer(async (req, res) => {
      const r = await fetch(`http://${REGISTRY}${req.url}`, {
        method: req.method,
        headers: { accept: String(req.headers.accept ?? "*/*") },
      });
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, {
        "content-type": r.headers.get("content-type") ?? "application/octet-stream",
      });
      res.end(req.url?.includes("/blobs/") ? Buffer.from("weightz") : body);
    });
    await new Promise<void>((r) => tamper.listen(0, "127.0.0.1", () => r()));
    try {
      const pushed = await pushOutputs(client(REGISTRY, repo), m, outputs);
      const address = `127.0.0.1:${(tamper.address() as net.AddressInfo).port}`;
      const out = join(tempDir(), "out");
      const err = await pullOutputs(client(address, repo, { retries: 0 }), {
        digest: pushed.digest,
        outputs: m.outputs,
        outDir: out,
      }).catch((e) => e);
      expect(err).toBeInstanceOf(CheckFailedError);
      expect(err.message).toMatch(/^model\.bin: changed/);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      tamper.close();
      await reg.stop();
    }
  });

  it("retries through a dropped upload connection and 5xx answers (injected by a proxy)", async () => {
    const outputs = tempDir();
    const big = Buffer.alloc(300_000, 7);
    const m = fakeManifest("20260101-000000-dddddd", outputs, { "model.bin": big, "small.txt": "s" });
    const { bundle } = await signed(m);
    const proxy = await startFaultProxy(REGISTRY, [
      { method: "PATCH", path: /\/blobs\/uploads\//, action: "drop", times: 1 },
      { method: "PUT", path: /\/blobs\/uploads\/.*digest=/, action: "drop", times: 1 },
      { method: "PUT", path: /\/manifests\/sha256:/, action: 503, times: 2 },
      { method: "HEAD", path: /\/blobs\//, action: 502, times: 1 },
      { method: "GET", path: /\/blobs\//, action: "drop", times: 1 },
    ]);
    const retries: string[] = [];
    try {
      const repo = freshRepo();
      // Chunks of 100 kB: the model goes up in PATCH requests; the small file in one PUT.
      const c = client(proxy.address, repo, { chunkSize: 100_000, onRetry: (x) => retries.push(x) });
      const pushed = await pushOutputs(c, m, outputs, bundle);
      expect(proxy.injected.length).toBeGreaterThanOrEqual(4);
      expect(retries.length).toBeGreaterThanOrEqual(4);
      const out = join(tempDir(), "out");
      await pullOutputs(c, { digest: pushed.digest, outputs: m.outputs, outDir: out });
      expect(fs.readFileSync(join(out, "model.bin")).equals(big)).toBe(true);
      expect(proxy.injected.some((x) => x.startsWith("drop GET"))).toBe(true);
      expect(proxy.requests.filter((r) => r.startsWith("PATCH")).length).toBeGreaterThanOrEqual(3);
    } finally {
      await proxy.stop();
    }
  });

  it("gives up after the retries with one line naming the registry, never a credential", async () => {
    const proxy = await startFaultProxy(REGISTRY, [{ method: "HEAD", path: /./, action: 503, times: 100 }]);
    try {
      const c = client(proxy.address, freshRepo(), {
        retries: 2,
        credentials: { username: "u", password: "hunter2-secret" },
      });
      const err = await c
        .pushBlob({ digest: `sha256:${sha256("x")}`, size: 1 }, { bytes: Buffer.from("x") })
        .catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.message).toMatch(new RegExp(`looking for blob .* at oci://${proxy.address}/.* failed: 503`));
      expect(err.message).not.toContain("hunter2");
    } finally {
      await proxy.stop();
    }
  });
});

describe.runIf(registryUp && hasHtpasswd)("against a docker-registry with basic auth", () => {
  it("answers the Basic challenge with the credentials, and refuses without them naming the fix", async () => {
    const reg = await startAuthRegistry(tempDir(), "ci", "pa55word");
    try {
      const outputs = tempDir();
      const m = fakeManifest("20260101-000000-eeeeee", outputs, { "model.bin": "w" });
      const { bundle, trust } = await signed(m);
      const repo = freshRepo();
      const anonymous = client(reg.address, repo);
      const err = await pushOutputs(anonymous, m, outputs).catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.message).toMatch(/needs a user and password; give credentials as TRACK_RUN_REGISTRY_USER/);
      const wrong = client(reg.address, repo, { credentials: { username: "ci", password: "nope-secret" } });
      const err2 = await pushOutputs(wrong, m, outputs).catch((e) => e);
      expect(err2.message).toMatch(/401.*credentials are refused/);
      expect(err2.message).not.toContain("nope-secret");
      const c = client(reg.address, repo, { credentials: { username: "ci", password: "pa55word" } });
      const pushed = await pushOutputs(c, m, outputs, bundle);
      const out = join(tempDir(), "out");
      const pulled = await pullDigest(c, pushed.digest, trust, { outDir: out }).catch((e) => e);
      expect(pulled.details ?? []).toEqual([]);
      expect(fs.readFileSync(join(out, "model.bin"), "utf8")).toBe("w");
    } finally {
      reg.stop();
    }
  });
});

describe("the referrers API (a loopback server answering it: docker-registry 2.x has none)", () => {
  it("attaches through the API when the registry answers OCI-Subject, and lists referrers from the API", async () => {
    const blobs = new Map<string, Buffer>();
    const manifests = new Map<string, { body: Buffer; type: string }>();
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (b: Buffer) => chunks.push(b));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url ?? "/", "http://x");
        seen.push(`${req.method} ${url.pathname}`);
        const blob = /\/blobs\/(sha256:[0-9a-f]+)$/.exec(url.pathname);
        const referrersOf = /\/referrers\/(sha256:[0-9a-f]+)$/.exec(url.pathname);
        if (req.method === "HEAD" && blob) {
          res.writeHead(blobs.has(blob[1]!) ? 200 : 404).end();
        } else if (req.method === "POST" && url.pathname.endsWith("/blobs/uploads/")) {
          res.writeHead(202, { location: "/v2/acme/models/blobs/uploads/1" }).end();
        } else if (req.method === "PUT" && url.pathname.includes("/blobs/uploads/")) {
          blobs.set(url.searchParams.get("digest")!, body);
          res.writeHead(201).end();
        } else if (req.method === "PUT" && url.pathname.includes("/manifests/")) {
          const digest = `sha256:${sha256(body)}`;
          manifests.set(digest, { body, type: String(req.headers["content-type"]) });
          const doc = JSON.parse(body.toString());
          res.writeHead(201, doc.subject ? { "oci-subject": doc.subject.digest } : {}).end();
        } else if (req.method === "GET" && referrersOf) {
          const list = [...manifests.entries()]
            .map(([digest, v]) => ({ digest, doc: JSON.parse(v.body.toString()), size: v.body.length }))
            .filter((x) => x.doc.subject?.digest === referrersOf[1])
            .map((x) => ({
              mediaType: x.doc.mediaType,
              digest: x.digest,
              size: x.size,
              artifactType: x.doc.artifactType,
            }));
          res
            .writeHead(200, { "content-type": MEDIA_INDEX })
            .end(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_INDEX, manifests: list }));
        } else res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      const outputs = tempDir();
      const m = fakeManifest("20260101-000000-ffffff", outputs, { "model.bin": "w" });
      const { bundle } = await signed(m);
      const c = client(address, "acme/models");
      const pushed = await pushOutputs(c, m, outputs, bundle);
      expect(pushed.bundle?.via).toBe("api");
      // No fallback tag was written.
      expect(seen.filter((s) => s.includes("sha256-"))).toEqual([]);
      const listed = await c.referrers(pushed.digest, BUNDLE_ARTIFACT_TYPE);
      expect(listed.via).toBe("api");
      expect(listed.referrers.map((r) => r.digest)).toEqual([pushed.bundle?.digest]);
    } finally {
      server.close();
    }
  });
});
