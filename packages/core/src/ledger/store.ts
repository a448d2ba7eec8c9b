// Where runs are recorded. `dir:PATH` (default locally, .track-run/ledger): runs/<run-id>/… written
// atomically, a run folder appearing whole or not at all.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "../errors.js";

export interface LedgerStore {
  readonly uri: string;
  /** Records a run's files; returns where they are. Refuses to overwrite a run. */
  putRun(runId: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string>;
  /** Adds (or replaces) one file of a recorded run, atomically. */
  putRunFile(runId: string, name: string, body: string | Uint8Array): Promise<void>;
  /** A run's file, or undefined. */
  readRunFile(runId: string, name: string): Promise<Buffer | undefined>;
  listRuns(): Promise<string[]>;
}

export class DirLedger implements LedgerStore {
  readonly uri: string;
  private readonly root: string;

  constructor(path: string) {
    this.root = resolve(path);
    this.uri = `dir:${path}`;
  }

  async putRun(runId: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string> {
    const runs = join(this.root, "runs");
    fs.mkdirSync(runs, { recursive: true });
    const dest = join(runs, runId);
    if (fs.existsSync(dest))
      throw new UsageError("run-exists", `run ${runId} is already recorded in ${this.uri}`);
    const tmp = join(runs, `.${runId}.${randomBytes(4).toString("hex")}.partial`);
    fs.mkdirSync(tmp);
    try {
      for (const [name, body] of Object.entries(files)) fs.writeFileSync(join(tmp, name), body);
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return dest;
  }

  async putRunFile(runId: string, name: string, body: string | Uint8Array): Promise<void> {
    const dir = join(this.root, "runs", runId);
    if (!fs.existsSync(dir)) throw new UsageError("no-such-run", `run ${runId} is not in ${this.uri}`);
    const tmp = join(dir, `.${name}.${randomBytes(4).toString("hex")}.tmp`);
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, join(dir, name));
  }

  async readRunFile(runId: string, name: string): Promise<Buffer | undefined> {
    try {
      return fs.readFileSync(join(this.root, "runs", runId, name));
    } catch {
      return undefined;
    }
  }

  async listRuns(): Promise<string[]> {
    try {
      return fs
        .readdirSync(join(this.root, "runs"))
        .filter((n) => !n.startsWith("."))
        .sort();
    } catch {
      return [];
    }
  }
}

/** Opens a ledger by URI: dir:PATH. */
export function openLedger(uri: string): LedgerStore {
  if (uri.startsWith("dir:") && uri.length > 4) return new DirLedger(uri.slice(4));
  throw new UsageError(
    "bad-ledger",
    `ledger "${uri}" is not a ledger URI this version reads; use dir:PATH (default dir:.track-run/ledger)`,
  );
}
