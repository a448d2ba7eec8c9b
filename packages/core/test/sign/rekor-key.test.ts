// Rekor entries for key-signed bundles, from @sigstore/mock's Rekor served on loopback (DSSE entries
// canonicalised as real Rekor does); the bundles are checked by the stock `sigstore` npm client at
// its DEFAULT thresholds (one log entry, one time of signing), its trusted root fetched from a TUF
// repository served by the same loopback server.
import { describe, expect, it } from "vitest";
import { buildStatement, signRecord, verifyBundle } from "../../src/index.js";
import { sampleManifest } from "./fixtures.js";
import { keyPair, statement, witnessServices } from "./witness-fixtures.js";

const w = witnessServices();
const REKOR_PATH = "/api/v1/log/entries";

type Material = {
  verificationMaterial: {
    tlogEntries?: Array<{ logIndex: string; integratedTime: string; inclusionPromise?: unknown }>;
    timestampVerificationData?: { rfc3161Timestamps?: unknown[] };
  };
};

describe("Rekor entries on key-signed bundles", () => {
  it("the trusted root served by TUF lists the mock Rekor's key", () => {
    const root = w.svc.trustedRoot as { tlogs: Array<{ baseUrl: string }> };
    expect(root.tlogs.map((t) => t.baseUrl)).toEqual([w.svc.url]);
  });

  for (const algorithm of ["p256", "ed25519"] as const) {
    it(`a ${algorithm} key-signed bundle logged in Rekor verifies with the stock client at default thresholds; the same bundle without its entry does not`, async () => {
      const k = keyPair(algorithm);
      const r = await signRecord(statement, { key: k.key, rekor: { url: w.svc.url, retries: 0 } });
      expect(r.method).toBe("key");
      expect(r.notes).toEqual([]);
      const b = r.document as unknown as Material;
      expect(b.verificationMaterial.tlogEntries).toHaveLength(1);
      expect(b.verificationMaterial.tlogEntries![0]!.inclusionPromise).toBeDefined();
      expect(b.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? []).toEqual([]);

      const signer = await w.stockVerify(r.document, k.pubPath, k.key.keyId);
      expect(signer.key.export({ type: "spki", format: "pem" })).toBe(k.pub.pem);

      const bare = structuredClone(b);
      bare.verificationMaterial.tlogEntries = [];
      await expect(w.stockVerify(bare, k.pubPath, k.key.keyId)).rejects.toMatchObject({
        code: "TIMESTAMP_ERROR",
        message: "expected 1 timestamps, got 0",
      });

      // Ours: the key decides; the entry is checked against a trusted root that lists the log.
      const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
      expect(v.checks.filter((c) => !c.ok)).toEqual([]);
      expect(v.checks.find((c) => c.name === "transparency-log")?.detail).toMatch(
        /^Rekor entry \d+, integrated \S+Z, in a transparency log of the trusted root$/,
      );
      const unchecked = await verifyBundle(r.document, { keys: [k.pub] });
      expect(unchecked.ok).toBe(true);
      expect(unchecked.checks.find((c) => c.name === "transparency-log")?.detail).toMatch(
        /not checked: pass --trusted-root FILE listing its transparency log$/,
      );
    });
  }

  it("with a timestamp too, the stock client needs only the defaults; without the entry it still needs tlogThreshold: 0", async () => {
    const k = keyPair();
    const r = await signRecord(statement, {
      key: k.key,
      tsa: { url: w.svc.url, retries: 0 },
      rekor: { url: w.svc.url, retries: 0 },
    });
    const b = r.document as unknown as Material;
    expect(b.verificationMaterial.tlogEntries).toHaveLength(1);
    expect(b.verificationMaterial.timestampVerificationData?.rfc3161Timestamps).toHaveLength(1);
    await expect(w.stockVerify(r.document, k.pubPath, k.key.keyId)).resolves.toBeDefined();
    const bare = structuredClone(b);
    bare.verificationMaterial.tlogEntries = [];
    await expect(w.stockVerify(bare, k.pubPath, k.key.keyId)).rejects.toMatchObject({
      code: "TLOG_ERROR",
      message: "expected 1 tlog entries, got 0",
    });
    const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.checks.map((c) => c.name)).toEqual(expect.arrayContaining(["timestamp", "transparency-log"]));
  });

  it("an entry moved onto another bundle fails the stock client and our check", async () => {
    const k = keyPair();
    const a = await signRecord(statement, { key: k.key, rekor: { url: w.svc.url, retries: 0 } });
    const b = await signRecord(buildStatement(sampleManifest([])), { key: k.key });
    const forged = structuredClone(b.document) as unknown as Material;
    forged.verificationMaterial.tlogEntries = (
      a.document as unknown as Material
    ).verificationMaterial.tlogEntries;
    await expect(w.stockVerify(forged, k.pubPath, k.key.keyId)).rejects.toMatchObject({
      code: "TLOG_BODY_ERROR",
    });
    const v = await verifyBundle(forged, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "transparency-log")?.detail).toMatch(
      /^the Rekor entry does not verify against the trusted root's transparency logs: /,
    );
  });

  it("an entry from a log the trusted root does not list fails our check", async () => {
    const k = keyPair();
    const r = await signRecord(statement, { key: k.key, rekor: { url: w.svc.url, retries: 0 } });
    const root = structuredClone(w.svc.trustedRoot) as {
      tlogs: Array<{ publicKey: unknown }>;
      ctlogs: Array<{ publicKey: unknown }>;
    };
    root.tlogs[0]!.publicKey = root.ctlogs[0]!.publicKey;
    const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: root });
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => c.name === "transparency-log")?.ok).toBe(false);
  });

  it("retries a Rekor that fails, then logs the bundle", async () => {
    const k = keyPair();
    const before = w.svc.hits.get(REKOR_PATH) ?? 0;
    w.svc.failNext(REKOR_PATH, 2);
    const r = await signRecord(statement, {
      key: k.key,
      rekor: { url: w.svc.url, retries: 2, backoffMs: 5 },
    });
    expect((w.svc.hits.get(REKOR_PATH) ?? 0) - before).toBe(3);
    expect(r.notes).toEqual([]);
    await expect(w.stockVerify(r.document, k.pubPath, k.key.keyId)).resolves.toBeDefined();
  });

  it("keeps the record signed, without an entry and with a warning, when Rekor stays unreachable", async () => {
    const k = keyPair();
    const r = await signRecord(statement, {
      key: k.key,
      rekor: { url: "http://127.0.0.1:9", retries: 2, backoffMs: 5 },
    });
    expect(r.method).toBe("key");
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toMatch(
      /^no transparency-log entry from Rekor http:\/\/127\.0\.0\.1:9 after 3 attempts: .*; the record is kept signed, without a transparency-log entry$/,
    );
    expect((r.document as unknown as Material).verificationMaterial.tlogEntries ?? []).toEqual([]);
    const warnings: string[] = [];
    const told = await signRecord(statement, {
      key: k.key,
      rekor: { url: "http://127.0.0.1:9", retries: 0, onWarning: (m) => warnings.push(m) },
    });
    expect(told.notes).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/after 1 attempt: .*without a transparency-log entry$/)]);
    const v = await verifyBundle(r.document, { keys: [k.pub], trustedRoot: w.svc.trustedRoot });
    expect(v.ok).toBe(true);
    expect(v.checks.map((c) => c.name)).not.toContain("transparency-log");
  });
});
