// The spec of a run the run tests track on the host: model demo, `node -e SCRIPT` in the repository,
// its data/train as the data set, recorded in the repository's dir: ledger, signed by a new key.
import { join } from "node:path";
import type { TrackSpec } from "../../src/run/index.js";
import { generateKeys, readPrivateKey } from "../../src/sign/index.js";
import { tempDir } from "../helpers.js";

export function hostRunSpec(repo: string, script: string, more: Partial<TrackSpec> = {}): TrackSpec {
  const keyDir = tempDir();
  generateKeys(join(keyDir, "k"));
  return {
    model: "demo",
    command: [process.execPath, "-e", script],
    repo,
    runtime: "host",
    data: [{ name: "train", path: join(repo, "data/train") }],
    ...more,
    ledger: `dir:${join(repo, ".track-run/ledger")}`,
    signing: { key: readPrivateKey(join(keyDir, "k.key")) },
  };
}
