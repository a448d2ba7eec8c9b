// Fulcio, Rekor and a timestamp authority, as @sigstore/mock implements them, served for real on
// loopback, with the trusted root that vouches for them. Files put in `files` are served on GET
// (a TUF repository, for clients that fetch their trusted root that way).

import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
} from "@sigstore/mock";

export interface SigstoreServices {
  url: string;
  trustedRoot: unknown;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  /** Served on GET, by path. */
  files: Map<string, Buffer>;
  /** Answer the next `count` requests to `path` with HTTP 503 (an unavailable service). */
  failNext(path: string, count: number): void;
  close(): Promise<void>;
}

interface ProposedDsse {
  kind: string;
  apiVersion: string;
  spec: { proposedContent?: { envelope: string; verifiers: string[] } };
}

function canonicalDsse(entry: ProposedDsse): unknown {
  const content = entry.kind === "dsse" ? entry.spec.proposedContent : undefined;
  if (!content) return entry;
  const envelope = JSON.parse(content.envelope) as { payload: string; signatures: Array<{ sig: string }> };
  const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
  return {
    kind: "dsse",
    apiVersion: "0.0.1",
    spec: {
      envelopeHash: { algorithm: "sha256", value: sha(content.envelope) },
      payloadHash: { algorithm: "sha256", value: sha(Buffer.from(envelope.payload, "base64")) },
      signatures: envelope.signatures.map((s, i) => ({
        signature: s.sig,
        verifier: content.verifiers[i] ?? content.verifiers[0],
      })),
    },
  };
}

const p256 = () => generateKeyPairSync("ec", { namedCurve: "P-256" });

export async function startSigstore(): Promise<SigstoreServices> {
  const hits = new Map<string, number>();
  const files = new Map<string, Buffer>();
  const failing = new Map<string, number>();
  let handlers: Array<{
    path: string;
    fn: (body: string) => Promise<{ statusCode: number; response: unknown; contentType?: string }>;
  }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const path = (req.url ?? "").split("?")[0]!;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const fails = failing.get(path) ?? 0;
      if (fails > 0) {
        failing.set(path, fails - 1);
        res.writeHead(503).end("unavailable");
        return;
      }
      const file = files.get(path);
      if (req.method === "GET" && file) {
        res.writeHead(200, { "Content-Type": "application/octet-stream" }).end(file);
        return;
      }
      const h = handlers.find((x) => x.path === path);
      if (!h || req.method !== "POST") {
        res.writeHead(404).end();
        return;
      }
      const r = await h.fn(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(r.statusCode, { "Content-Type": r.contentType ?? "text/plain" });
      res.end(r.response as Buffer | string);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ctKeys = p256();
  const ctLog = await initializeCTLog(ctKeys);
  const ca = await initializeCA(p256(), ctLog);
  const tlogKeys = p256();
  const tlog = await initializeTLog(url, tlogKeys);
  const mockRekor = rekorHandler(tlog);
  // Real Rekor stores a DSSE entry in canonical form (signatures with their verifier, payload and
  // envelope hashes), which is what verifiers compare; the mock logs the proposed form as is.
  const rekor = {
    path: mockRekor.path,
    fn: (body: string) => mockRekor.fn(JSON.stringify(canonicalDsse(JSON.parse(body)))),
  };
  // The mock writes the time with however many millisecond digits it has ("…05.3Z"), which
  // Sigstore's parser refuses unless there are three; real authorities write whole seconds or
  // three digits. So its clock is fixed at a whole second.
  const tsa = await initializeTSA(p256(), new Date(Math.floor(Date.now() / 1000) * 1000));
  handlers = [fulcioHandler(ca), rekor, tsaHandler(tsa)] as typeof handlers;
  const certBytes = (c: ArrayBufferView) =>
    Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString("base64");
  const der = (k: { publicKey: import("node:crypto").KeyObject }) =>
    k.publicKey.export({ type: "spki", format: "der" });
  const logInstance = (keys: { publicKey: import("node:crypto").KeyObject }, logId: Buffer) => ({
    baseUrl: url,
    hashAlgorithm: "SHA2_256",
    publicKey: {
      rawBytes: der(keys).toString("base64"),
      keyDetails: "PKIX_ECDSA_P256_SHA_256",
      validFor: { start: "2000-01-01T00:00:00Z" },
    },
    logId: { keyId: logId.toString("base64") },
  });
  const trustedRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [logInstance(tlogKeys, createHash("sha256").update(der(tlogKeys)).digest())],
    certificateAuthorities: [
      {
        subject: { organization: "sigstore.mock", commonName: "sigstore" },
        uri: url,
        certChain: {
          certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer).toString("base64") }],
        },
        validFor: { start: "2000-01-01T00:00:00Z" },
      },
    ],
    ctlogs: [logInstance(ctKeys, Buffer.from(ctLog.logID.buffer))],
    timestampAuthorities: [
      {
        subject: { organization: "sigstore.mock", commonName: "tsa" },
        uri: `${url}/api/v1/timestamp`,
        // The signing certificate first, then the root.
        certChain: {
          certificates: [
            { rawBytes: certBytes(tsa.intCertificate) },
            { rawBytes: certBytes(tsa.rootCertificate) },
          ],
        },
        validFor: { start: "2000-01-01T00:00:00Z" },
      },
    ],
  };
  return {
    url,
    trustedRoot,
    hits,
    files,
    failNext: (path, count) => failing.set(path, count),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** An unsigned OIDC token with GitHub Actions' claims (the mock Fulcio reads, it does not verify). */
export function githubToken(
  repo = "acme/models",
  workflow = ".github/workflows/train.yml",
  ref = "refs/heads/main",
): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const claims = {
    iss: "https://token.actions.githubusercontent.com",
    sub: `https://github.com/${repo}/${workflow}@${ref}`,
    aud: "sigstore",
    repository: repo,
    workflow_ref: `${repo}/${workflow}@${ref}`,
    exp: Math.floor(Date.now() / 1000) + 600,
  };
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.sig`;
}
