import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildStatement,
  generateKeys,
  readPrivateKey,
  readPublicKey,
  SigningFailedError,
  signRecord,
  verifyBundle,
} from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { sampleManifest } from "./fixtures.js";
import { githubToken, type SigstoreServices, startSigstore } from "./sigstore-services.js";

let svc: SigstoreServices;
beforeAll(async () => {
  svc = await startSigstore();
});
afterAll(() => svc.close());

const statement = buildStatement(
  sampleManifest([{ path: "model.bin", sha256: createHash("sha256").update("w").digest("hex"), size: 1 }]),
);
const keyless = (token = githubToken()) => ({
  fulcioURL: svc.url,
  rekorURL: svc.url,
  getToken: async () => token,
  retries: 0,
});
const GITHUB = "https://token.actions.githubusercontent.com";

describe("keyless signing (Fulcio and Rekor on loopback)", () => {
  it("signs with a Fulcio certificate and a Rekor entry, and verifies against the trusted root and an identity rule", async () => {
    const r = await signRecord(statement, { keyless: keyless() });
    expect(r.method).toBe("keyless");
    const b = r.document as { verificationMaterial: { certificate?: unknown; tlogEntries: unknown[] } };
    expect(b.verificationMaterial.certificate).toBeDefined();
    expect(b.verificationMaterial.tlogEntries).toHaveLength(1);
    expect(svc.hits.get("/api/v2/signingCert")).toBeGreaterThan(0);
    const v = await verifyBundle(r.document, {
      keys: [],
      trustedRoot: svc.trustedRoot,
      identities: [
        {
          name: "acme CI",
          issuer: GITHUB,
          repository: "acme/*",
          workflowRef: "acme/models/.github/workflows/train.yml@refs/heads/main",
        },
      ],
    });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.identity).toEqual({
      issuer: GITHUB,
      subject: "https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main",
      repository: "acme/models",
      workflowRef: "acme/models/.github/workflows/train.yml@refs/heads/main",
    });
    expect(v.checks.find((c) => c.name === "signature")?.detail).toMatch(/accepted by acme CI/);
  });

  it("refuses a signer the trust policy does not name, and a bundle checked without a trusted root", async () => {
    const r = await signRecord(statement, { keyless: keyless(githubToken("mallory/fork")) });
    const v = await verifyBundle(r.document, {
      keys: [],
      trustedRoot: svc.trustedRoot,
      identities: [{ issuer: GITHUB, repository: "acme/models" }],
    });
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "signature")?.detail).toBe(
      `signed keyless by https://github.com/mallory/fork/.github/workflows/train.yml@refs/heads/main (issuer ${GITHUB}), which no identity in the trust policy accepts`,
    );
    const noRoot = await verifyBundle(r.document, {
      keys: [],
      identities: [{ issuer: GITHUB, repository: "*" }],
    });
    expect(noRoot.checks.find((c) => c.name === "signature")?.detail).toMatch(/pass --trusted-root FILE/);
  });

  it("fails a keyless bundle whose payload was changed", async () => {
    const r = await signRecord(statement, { keyless: keyless() });
    const b = structuredClone(r.document) as { dsseEnvelope: { payload: string } };
    const p = Buffer.from(b.dsseEnvelope.payload, "base64");
    p[10] = p[10]! ^ 1;
    b.dsseEnvelope.payload = p.toString("base64");
    const v = await verifyBundle(b, {
      keys: [],
      trustedRoot: svc.trustedRoot,
      identities: [{ issuer: GITHUB, repository: "*" }],
    });
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "signature")?.detail).toMatch(
      /^keyless signature does not verify against the trusted root/,
    );
  });

  it("falls back to the configured key when Sigstore is unreachable, after retrying", async () => {
    const dir = tempDir();
    const k = generateKeys(`${dir}/fallback`);
    let tokens = 0;
    const r = await signRecord(statement, {
      keyless: {
        fulcioURL: "http://127.0.0.1:9",
        rekorURL: "http://127.0.0.1:9",
        getToken: async () => {
          tokens++;
          return githubToken();
        },
        retries: 2,
        backoffMs: 5,
      },
      key: readPrivateKey(k.privateKey),
    });
    expect(tokens).toBe(3);
    expect(r.method).toBe("key");
    expect(r.notes.join("\n")).toMatch(
      /keyless signing failed after 3 attempts.*fell back to the local key/s,
    );
    expect((await verifyBundle(r.document, { keys: [readPublicKey(k.publicKey)] })).ok).toBe(true);
  });

  it("keeps the record unsigned and marked when Sigstore fails and no key is configured", async () => {
    const err = await signRecord(statement, {
      keyless: {
        fulcioURL: "http://127.0.0.1:9",
        rekorURL: "http://127.0.0.1:9",
        getToken: async () => githubToken(),
        retries: 0,
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningFailedError);
    const e = err as SigningFailedError;
    expect(e.exitCode).toBe(1);
    expect(e.message).toMatch(/kept unsigned/);
    const v = await verifyBundle(e.unsigned, { keys: [] });
    expect(v.signed).toBe(false);
    expect(v.manifest?.runId).toBe(statement.predicate.runId);
  });
});
