// A TUF repository publishing one trusted root, the way Sigstore distributes trusted_root.json:
// root, timestamp, snapshot and targets metadata signed with one Ed25519 key. The stock `sigstore`
// client fetches its trusted root only this way (tufMirrorURL + tufRootPath).
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { canonicalJson } from "../../src/manifest/canonical.js";

export interface TufRepo {
  /** The repository's files, by path under the mirror URL (root.json is the initial root a client pins). */
  files: Map<string, Buffer>;
  /** The initial root.json, for tufRootPath. */
  root: Buffer;
}

export function tufRepo(trustedRoot: unknown): TufRepo {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ type: "spki", format: "der" }).subarray(-32).toString("hex");
  const key = { keytype: "ed25519", scheme: "ed25519", keyval: { public: raw } };
  const keyid = createHash("sha256").update(canonicalJson(key)).digest("hex");
  const common = { spec_version: "1.0.31", version: 1, expires: "2099-01-01T00:00:00Z" };
  const signed = (s: object) => {
    const sig = sign(null, Buffer.from(canonicalJson(s), "utf8"), privateKey).toString("hex");
    return Buffer.from(JSON.stringify({ signed: s, signatures: [{ keyid, sig }] }));
  };
  const role = { keyids: [keyid], threshold: 1 };
  const target = Buffer.from(JSON.stringify(trustedRoot));
  const root = signed({
    _type: "root",
    ...common,
    consistent_snapshot: false,
    keys: { [keyid]: key },
    roles: { root: role, timestamp: role, snapshot: role, targets: role },
  });
  const targets = signed({
    _type: "targets",
    ...common,
    targets: {
      "trusted_root.json": {
        length: target.length,
        hashes: { sha256: createHash("sha256").update(target).digest("hex") },
      },
    },
  });
  const snapshot = signed({ _type: "snapshot", ...common, meta: { "targets.json": { version: 1 } } });
  const timestamp = signed({ _type: "timestamp", ...common, meta: { "snapshot.json": { version: 1 } } });
  const files = new Map<string, Buffer>([
    ["1.root.json", root],
    ["root.json", root],
    ["timestamp.json", timestamp],
    ["snapshot.json", snapshot],
    ["targets.json", targets],
    ["targets/trusted_root.json", target],
  ]);
  return { files, root };
}
