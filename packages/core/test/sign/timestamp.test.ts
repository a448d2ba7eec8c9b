// RFC 3161 timestamps on key-signed bundles, from @sigstore/mock's timestamp authority served on
// loopback; the bundles are checked by the stock `sigstore` npm client, which reads its trusted root
// from a TUF repository (served by the same loopback server).
import { describe, expect, it } from "vitest";
import { buildStatement, signRecord, verifyBundle } from "../../src/index.js";
import { sampleManifest } from "./fixtures.js";
import { keyPair, statement, witnessServices } from "./witness-fixtures.js";

const w = witnessServices();
const TSA_PATH = "/api/v1/timestamp";

/**
 * The stock client, as a user calls it. A key-signed bundle has no transparency-log entry (keyless
 * ones do); the timestamp threshold stays at its default of 1.
 */
const stockVerify = (bundle: unknown, pubPath: string, keyId: string) =>
  w.stockVerify(bundle, pubPath, keyId, { tlogThreshold: 0 });

describe("RFC 3161 timestamps on key-signed bundles", () => {
  for (const algorithm of ["p256", "ed25519"] as const) {
    it(`a ${algorithm} key-signed, timestamped bundle verifies with the stock sigstore client and with ours`, async () => {
      const k = keyPair(algorithm);
      const r = await signRecord(statement, { key: k.key, tsa: { url: w.svc.url, retries: 0 } });
      expect(r.method).toBe("key");
      expect(r.notes).toEqual([]);
      const b = r.document as {
        verificationMaterial: { timestampVerificationData?: { rfc3161Timestamps: unknown[] } };
      };
      expect(b.verificationMaterial.timestampVerificationData?.rfc3161Timestamps).toHaveLength(1);

      const signer = await stockVerify(r.document, k.pubPath, k.key.keyId);
      expect(signer.key.export({ type: "spki", format: "pem" })).toBe(k.pub.pem);

      const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
      expect(v.checks.filter((c) => !c.ok)).toEqual([]);
      expect(v.checks.find((c) => c.name === "timestamp")?.detail).toMatch(
        /^RFC 3161 timestamp \S+Z, by a timestamp authority of the trusted root$/,
      );
      expect(Math.abs(Date.parse(v.timestamp!) - Date.now())).toBeLessThan(60_000);
    });
  }

  it("a bundle without a timestamp is refused by the stock client, as before", async () => {
    const k = keyPair();
    const r = await signRecord(statement, { key: k.key });
    expect(
      (
        r.document as {
          verificationMaterial: { timestampVerificationData?: { rfc3161Timestamps?: unknown[] } };
        }
      ).verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [],
    ).toEqual([]);
    await expect(stockVerify(r.document, k.pubPath, k.key.keyId)).rejects.toMatchObject({
      code: "TIMESTAMP_ERROR",
      message: "expected 1 timestamps, got 0",
    });
    // Ours accepts it on the key alone, with no timestamp check.
    const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
    expect(v.ok).toBe(true);
    expect(v.checks.map((c) => c.name)).not.toContain("timestamp");
    expect(v.timestamp).toBeUndefined();
  });

  it("the stock client refuses a timestamped bundle signed by another key", async () => {
    const k = keyPair();
    const other = keyPair();
    const r = await signRecord(statement, { key: k.key, tsa: { url: w.svc.url, retries: 0 } });
    await expect(stockVerify(r.document, other.pubPath, k.key.keyId)).rejects.toMatchObject({
      code: "SIGNATURE_ERROR",
    });
  });

  it("a timestamp from an authority the trusted root does not list fails our check; without a root it is reported unchecked", async () => {
    const k = keyPair();
    const r = await signRecord(statement, { key: k.key, tsa: { url: w.svc.url, retries: 0 } });
    const root = structuredClone(w.svc.trustedRoot) as {
      timestampAuthorities: Array<{ certChain: { certificates: unknown[] } }>;
      certificateAuthorities: Array<{ certChain: { certificates: unknown[] } }>;
    };
    // Another authority: the Fulcio CA's chain where the TSA's was.
    root.timestampAuthorities[0]!.certChain = root.certificateAuthorities[0]!.certChain;
    const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: root });
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "timestamp")?.detail).toMatch(
      /^the RFC 3161 timestamp does not verify against the trusted root's timestamp authorities/,
    );
    const unchecked = await verifyBundle(r.document, { keys: [k.pub] });
    expect(unchecked.ok).toBe(true);
    expect(unchecked.timestamp).toBeUndefined();
    expect(unchecked.checks.find((c) => c.name === "timestamp")?.detail).toMatch(
      /not checked: pass --trusted-root FILE listing its timestamp authority$/,
    );
  });

  it("a timestamp over another signature fails our check", async () => {
    const k = keyPair();
    const a = await signRecord(statement, { key: k.key, tsa: { url: w.svc.url, retries: 0 } });
    const b = await signRecord(buildStatement(sampleManifest([])), { key: k.key });
    const forged = structuredClone(b.document) as { verificationMaterial: Record<string, unknown> };
    forged.verificationMaterial.timestampVerificationData = (
      a.document as { verificationMaterial: Record<string, unknown> }
    ).verificationMaterial.timestampVerificationData;
    const v = await verifyBundle(forged, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "timestamp")?.ok).toBe(false);
    await expect(stockVerify(forged, k.pubPath, k.key.keyId)).rejects.toMatchObject({
      code: "TIMESTAMP_ERROR",
    });
  });

  it("retries a timestamp authority that fails, then gets the timestamp", async () => {
    const k = keyPair();
    const before = w.svc.hits.get(TSA_PATH) ?? 0;
    w.svc.failNext(TSA_PATH, 2);
    const r = await signRecord(statement, { key: k.key, tsa: { url: w.svc.url, retries: 2, backoffMs: 5 } });
    expect((w.svc.hits.get(TSA_PATH) ?? 0) - before).toBe(3);
    expect(r.notes).toEqual([]);
    await expect(stockVerify(r.document, k.pubPath, k.key.keyId)).resolves.toBeDefined();
  });

  it("keeps the record signed, without a timestamp and with a warning, when the authority stays unreachable", async () => {
    const k = keyPair();
    const r = await signRecord(statement, {
      key: k.key,
      tsa: { url: "http://127.0.0.1:9", retries: 2, backoffMs: 5 },
    });
    expect(r.method).toBe("key");
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toMatch(
      /^no timestamp from the timestamp authority http:\/\/127\.0\.0\.1:9 after 3 attempts: .*; the record is kept signed, without a timestamp$/,
    );
    // Told to a listener instead of the notes when there is one (an action's warning, the CLI's).
    const warnings: string[] = [];
    const told = await signRecord(statement, {
      key: k.key,
      tsa: { url: "http://127.0.0.1:9", retries: 0, onWarning: (m) => warnings.push(m) },
    });
    expect(told.notes).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/after 1 attempt: .*kept signed, without a timestamp$/);
    const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
    expect(v.ok).toBe(true);
    expect(v.timestamp).toBeUndefined();
  });
});
