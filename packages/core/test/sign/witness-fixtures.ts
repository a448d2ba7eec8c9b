// What the tests of the witnesses of key-signed bundles (timestamp authority, Rekor) share:
// @sigstore/mock's services on loopback with a TUF repository of their trusted root, a statement
// to sign, key pairs, and the stock `sigstore` npm client as a user calls it.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { verify as sigstoreVerify, type VerifyOptions } from "sigstore";
import { afterAll, beforeAll } from "vitest";
import {
  buildStatement,
  generateKeys,
  type KeyAlgorithm,
  readPrivateKey,
  readPublicKey,
} from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { sampleManifest } from "./fixtures.js";
import { type SigstoreServices, startSigstore } from "./sigstore-services.js";
import { tufRepo } from "./tuf-repo.js";

export const statement = buildStatement(
  sampleManifest([{ path: "model.bin", sha256: createHash("sha256").update("w").digest("hex"), size: 1 }]),
);

export function keyPair(algorithm: KeyAlgorithm = "p256") {
  const k = generateKeys(join(tempDir(), "signing"), algorithm);
  return { key: readPrivateKey(k.privateKey), pub: readPublicKey(k.publicKey), pubPath: k.publicKey };
}

export interface WitnessServices {
  /** The services, started before the file's tests and closed after them. */
  readonly svc: SigstoreServices;
  /**
   * The stock client as a user calls it: a key by the bundle's hint, the trusted root from TUF, and
   * `options` (none: its default thresholds).
   */
  stockVerify(
    bundle: unknown,
    pubPath: string,
    keyId: string,
    options?: VerifyOptions,
  ): ReturnType<typeof sigstoreVerify>;
}

/** Starts the services for the calling test file (beforeAll) and closes them (afterAll). */
export function witnessServices(): WitnessServices {
  let svc: SigstoreServices | undefined;
  let tufRootJson: Buffer;
  beforeAll(async () => {
    svc = await startSigstore();
    const repo = tufRepo(svc.trustedRoot);
    for (const [name, bytes] of repo.files) svc.files.set(`/tuf/${name}`, bytes);
    tufRootJson = repo.root;
  });
  afterAll(() => svc?.close());
  const started = () => {
    if (!svc) throw new Error("the sigstore services are not started");
    return svc;
  };
  return {
    get svc() {
      return started();
    },
    stockVerify(bundle, pubPath, keyId, options = {}) {
      const tufRoot = join(tempDir(), "root.json");
      writeFileSync(tufRoot, tufRootJson);
      return sigstoreVerify(bundle as Parameters<typeof sigstoreVerify>[0], {
        keySelector: (hint) => (hint === keyId ? readFileSync(pubPath, "utf8") : undefined),
        tufMirrorURL: `${started().url}/tuf`,
        tufRootPath: tufRoot,
        tufCachePath: tempDir(),
        ...options,
      });
    },
  };
}
