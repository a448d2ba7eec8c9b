// What the ledger tests share: a suite-wide git server and signing keys, fresh dir: and git:
// ledgers, and signed runs of model spam-classifier recorded in them.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import {
  buildStatement,
  generateKeys,
  type LedgerStore,
  openLedger,
  type RunManifest,
  readPrivateKey,
  readPublicKey,
  signStatement,
} from "../../src/index.js";
import { type GitServer, startGitServer } from "../git-server.js";
import { tempDir } from "../helpers.js";
import { sampleManifest } from "../sign/fixtures.js";

/** A run of the sample manifest with this id and a final test accuracy. */
export function manifest(runId: string, accuracy: number): RunManifest {
  const m = sampleManifest([{ path: "model.bin", sha256: "1".repeat(64), size: 1 }]);
  return { ...m, runId, metrics: { final: [{ name: "accuracy", value: accuracy, stage: "test" }] } };
}

export interface LedgerSuite {
  /** The git server, started before the file's tests. */
  readonly git: GitServer;
  /** The folder of the suite's key pairs (`<name>.key`, `<name>.pub`). */
  readonly keys: string;
  /** A fresh, empty ledger of this kind; for git:, `bare` is its new repository on the server. */
  open(kind: "dir" | "git"): { store: LedgerStore; bare?: string };
  /** Records the run, signed by key k. */
  record(ledger: LedgerStore, m: RunManifest): Promise<void>;
  /** A trust policy of one key of the suite (default k). */
  trust(name?: string): { keys: ReturnType<typeof readPublicKey>[] };
}

/**
 * Starts the git server and makes the key pairs `keyNames` for the calling test file (beforeAll);
 * removes them after (afterAll). Suite-wide folders: tempDir() is removed after each test.
 */
export function ledgerSuite(name: string, keyNames: readonly string[] = ["k"]): LedgerSuite {
  const suite = mkdtempSync(join(tmpdir(), `track-run-${name}-`));
  const keys = join(suite, "keys");
  let git: GitServer | undefined;
  beforeAll(async () => {
    mkdirSync(join(suite, "git"));
    git = await startGitServer(join(suite, "git"));
    for (const k of keyNames) generateKeys(join(keys, k));
  });
  afterAll(async () => {
    await git?.close();
    rmSync(suite, { recursive: true, force: true });
  });
  const server = () => {
    if (!git) throw new Error("the git server is not started");
    return git;
  };
  return {
    get git() {
      return server();
    },
    keys,
    open(kind) {
      if (kind === "dir") return { store: openLedger(`dir:${tempDir()}`) };
      const repo = `ledger-${Math.random().toString(36).slice(2, 8)}`;
      const bare = server().repo(repo);
      return {
        store: openLedger(`git:${server().url(repo)}#track-run-ledger`, { cacheDir: tempDir() }),
        bare,
      };
    },
    async record(ledger, m) {
      const bundle = signStatement(buildStatement(m), readPrivateKey(join(keys, "k.key")));
      await ledger.putRun(m.runId, {
        "manifest.json": JSON.stringify(m),
        "bundle.sigstore.json": JSON.stringify(bundle),
      });
    },
    trust: (k = "k") => ({ keys: [readPublicKey(join(keys, `${k}.pub`))] }),
  };
}
