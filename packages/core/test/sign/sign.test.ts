import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleFromJSON } from "@sigstore/bundle";
import { describe, expect, it } from "vitest";
import {
  buildStatement,
  generateKeys,
  keyIdOf,
  pae,
  parsePublicKey,
  readPrivateKey,
  readPublicKey,
  readTrustFile,
  type Statement,
  signStatement,
  unsignedEnvelope,
  verifyBundle,
  verifyPae,
} from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { sampleManifest } from "./fixtures.js";

const sha = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");

function signedRun(alg: "p256" | "ed25519" = "p256") {
  const dir = tempDir();
  const outputs = join(dir, "outputs");
  mkdirSync(outputs);
  writeFileSync(join(outputs, "model.bin"), "weights");
  writeFileSync(join(outputs, "metrics.json"), '{"accuracy":0.93}');
  const manifest = sampleManifest([{ path: "model.bin", sha256: sha("weights"), size: 7 }]);
  const statement = buildStatement(manifest, [
    { name: "metrics.json", digest: { sha256: sha('{"accuracy":0.93}') } },
  ]);
  const keys = generateKeys(join(dir, "signing"), alg);
  const bundle = signStatement(statement, readPrivateKey(keys.privateKey));
  return { dir, outputs, bundle, statement, pub: readPublicKey(keys.publicKey), keyId: keys.keyId };
}

const failed = (r: { checks: Array<{ name: string; ok: boolean; detail: string }> }) =>
  r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);

describe("keygen", () => {
  it.each([
    "p256",
    "ed25519",
  ] as const)("writes a %s PKCS#8 private key (0600) and SPKI public key; key id = sha256 of DER SPKI", (alg) => {
    const dir = tempDir();
    const k = generateKeys(join(dir, "k"), alg);
    expect(readFileSync(k.privateKey, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readFileSync(k.publicKey, "utf8")).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(statSync(k.privateKey).mode & 0o777).toBe(0o600);
    const der = createPublicKey(readFileSync(k.publicKey)).export({ type: "spki", format: "der" });
    expect(k.keyId).toBe(sha(der));
    expect(readPrivateKey(k.privateKey).algorithm).toBe(alg);
    expect(() => generateKeys(join(dir, "k"), alg)).toThrow(/already exists/);
  });

  it("refuses an RSA key, naming the supported ones", () => {
    const dir = tempDir();
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    });
    writeFileSync(join(dir, "rsa.key"), rsa);
    expect(() => readPrivateKey(join(dir, "rsa.key"))).toThrow(/use ECDSA P-256 or Ed25519/);
  });
});

describe("signing and verification", () => {
  it.each([
    "p256",
    "ed25519",
  ] as const)("signs a statement into a Sigstore bundle v0.3 that @sigstore/bundle accepts and verifies it (%s)", async (alg) => {
    const run = signedRun(alg);
    expect(run.bundle.mediaType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
    expect(() => bundleFromJSON(run.bundle)).not.toThrow();
    const r = await verifyBundle(run.bundle, { keys: [run.pub], subjectsDir: run.outputs });
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.keyId).toBe(run.keyId);
    expect(r.manifest?.runId).toBe("20260102-030405-abc123");
    expect(r.checks.map((c) => c.name)).toEqual([
      "bundle",
      "payload-type",
      "payload",
      "signature",
      "statement",
      "manifest",
      "subject model.bin",
      "subject metrics.json",
    ]);
  });

  it("is verified by a standard DSSE verifier given only the public key (PAE over the decoded payload)", () => {
    const run = signedRun();
    const env = run.bundle.dsseEnvelope!;
    const payload = Buffer.from(env.payload, "base64");
    const data = Buffer.concat([
      Buffer.from(`DSSEv1 ${env.payloadType.length} ${env.payloadType} ${payload.length} `),
      payload,
    ]);
    const ok = verify("sha256", data, run.pub.key, Buffer.from(env.signatures[0]!.sig, "base64"));
    expect(ok).toBe(true);
    expect(env.signatures[0]!.keyid).toBe(run.keyId);
  });

  it("fails, naming it, when any byte of the payload changes", async () => {
    const run = signedRun();
    const env = run.bundle.dsseEnvelope!;
    const p = Buffer.from(env.payload, "base64");
    for (const at of [0, Math.floor(p.length / 2), p.length - 1]) {
      const q = Buffer.from(p);
      q[at] = q[at]! ^ 1;
      const b = structuredClone(run.bundle);
      b.dsseEnvelope!.payload = q.toString("base64");
      const r = await verifyBundle(b, { keys: [run.pub] });
      expect(r.ok).toBe(false);
      expect(failed(r)[0]).toMatch(
        /^signature: signature 0 does not verify with the trusted key [0-9a-f]{64}$/,
      );
    }
  });

  it("fails when a byte of the signature changes", async () => {
    const run = signedRun();
    const b = structuredClone(run.bundle);
    const sig = Buffer.from(b.dsseEnvelope!.signatures[0]!.sig, "base64");
    sig[sig.length - 3] = sig[sig.length - 3]! ^ 0x40;
    b.dsseEnvelope!.signatures[0]!.sig = sig.toString("base64");
    const r = await verifyBundle(b, { keys: [run.pub] });
    expect(failed(r)).toContain(`signature: signature 0 does not verify with the trusted key ${run.keyId}`);
  });

  it("fails when the key id in the bundle changes", async () => {
    const run = signedRun();
    const b = structuredClone(run.bundle);
    const other = "f".repeat(64);
    (b.verificationMaterial as { publicKey: { hint: string } }).publicKey.hint = other;
    const r = await verifyBundle(b, { keys: [run.pub] });
    expect(failed(r)).toEqual([
      `signature: key id ${other} in the bundle is not the id of the key that verifies it (${run.keyId})`,
    ]);
  });

  it("fails when a subject file changes or is missing", async () => {
    const run = signedRun();
    writeFileSync(join(run.outputs, "model.bin"), "weightz");
    const r = await verifyBundle(run.bundle, { keys: [run.pub], subjectsDir: run.outputs });
    expect(failed(r)).toEqual([
      `subject model.bin: sha256 is ${sha("weightz")}, the statement says ${sha("weights")}`,
    ]);
    rmSync(join(run.outputs, "metrics.json"));
    const r2 = await verifyBundle(run.bundle, { keys: [run.pub], subjectsDir: run.outputs });
    expect(failed(r2)[1]).toMatch(/^subject metrics\.json: .*metrics\.json is missing$/);
  });

  it("fails a bundle from another key", async () => {
    const run = signedRun();
    const stranger = signedRun();
    const r = await verifyBundle(stranger.bundle, { keys: [run.pub] });
    expect(r.ok).toBe(false);
    expect(failed(r)).toEqual([`signature: signature 0 does not verify with the trusted key ${run.keyId}`]);
  });

  it("fails a structurally broken bundle and a statement whose manifest breaks its schema", async () => {
    const run = signedRun();
    const broken = structuredClone(run.bundle) as Record<string, unknown>;
    delete broken.verificationMaterial;
    expect(failed(await verifyBundle(broken, { keys: [run.pub] }))[0]).toMatch(
      /^bundle: not a valid Sigstore bundle/,
    );
    const key = readPrivateKey(join(run.dir, "signing.key"));
    const bad = structuredClone(run.statement) as Statement;
    (bad.predicate as { status: unknown }).status = { state: "exploded" };
    const r = await verifyBundle(signStatement(bad, key), { keys: [run.pub] });
    expect(failed(r)).toEqual([
      'manifest: the manifest does not match its schema: /status/state: must be one of "succeeded", "failed", "cancelled"',
    ]);
  });

  it("reports an unsigned record as unsigned", async () => {
    const run = signedRun();
    const r = await verifyBundle(unsignedEnvelope(run.statement), { keys: [run.pub] });
    expect(r.signed).toBe(false);
    expect(failed(r)).toEqual([
      "signature: the record is unsigned (made with --unsigned, or signing failed)",
    ]);
  });

  it("reads trusted keys from a trust file and checks their ids", async () => {
    const run = signedRun();
    const trust = join(run.dir, "trust.json");
    writeFileSync(trust, JSON.stringify({ keys: [{ name: "ci", path: "signing.pub", keyId: run.keyId }] }));
    const { keys } = readTrustFile(trust);
    expect(keys.map((k) => k.keyId)).toEqual([run.keyId]);
    expect((await verifyBundle(run.bundle, { keys })).ok).toBe(true);
    writeFileSync(trust, JSON.stringify({ keys: [{ path: "signing.pub", keyId: "0".repeat(64) }] }));
    expect(() => readTrustFile(trust)).toThrow(/keyId 0{64} is not the id of its key/);
    writeFileSync(trust, JSON.stringify({ keys: [{ nope: 1 }] }));
    expect(() => readTrustFile(trust)).toThrow(/is not a valid trust/);
  });
});

describe("DSSE test vectors", () => {
  it("the protocol.md example (ECDSA P-256, raw r||s) verifies with our PAE", () => {
    // From the DSSE specification, protocol.md "Test Vectors".
    const b64url = (n: bigint) => Buffer.from(n.toString(16).padStart(64, "0"), "hex").toString("base64url");
    const jwk = {
      kty: "EC",
      crv: "P-256",
      x: b64url(46950820868899156662930047687818585632848591499744589407958293238635476079160n),
      y: b64url(5640078356564379163099075877009565129882514886557779369047442380624545832820n),
    };
    const key = createPublicKey({ key: jwk, format: "jwk" });
    const info = { key, keyId: keyIdOf(key), algorithm: "p256" as const, pem: "" };
    const data = pae("http://example.com/HelloWorld", Buffer.from("hello world"));
    expect(data.toString()).toBe("DSSEv1 29 http://example.com/HelloWorld 11 hello world");
    const sig = Buffer.from(
      "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==",
      "base64",
    );
    expect(verifyPae(info, data, sig)).toBe(true);
    expect(verifyPae(info, pae("http://example.com/HelloWorld", Buffer.from("hello world!")), sig)).toBe(
      false,
    );
  });

  it("the Ed25519 vectors: PAE bytes, non-ASCII type length and the empty payload", () => {
    // Key A: RFC 8032 test 1, as the DSSE test vectors use it.
    const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
    const priv = createPrivateKey({
      key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
      format: "der",
      type: "pkcs8",
    });
    const pub = parsePublicKey(
      createPublicKey(priv).export({ type: "spki", format: "pem" }).toString(),
      "key A",
    );
    expect(pub.key.export({ type: "spki", format: "der" }).subarray(-32).toString("hex")).toBe(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    );
    const body = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
    expect(pae("application/vnd.in-toto+json", body).toString("hex")).toBe(
      "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d",
    );
    const sig = Buffer.from(
      "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==",
      "base64",
    );
    expect(verifyPae(pub, pae("application/vnd.in-toto+json", body), sig)).toBe(true);
    expect(verifyPae(pub, pae("application/vnd.example.other+json", body), sig)).toBe(false);
    expect(pae("application/vnd.exämple+json", body).toString("hex")).toBe(
      "445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d",
    );
    expect(pae("application/vnd.in-toto+json", Buffer.alloc(0)).toString("hex")).toBe(
      "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020",
    );
  });
});
