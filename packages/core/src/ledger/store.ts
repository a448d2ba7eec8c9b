// Where runs are recorded. `dir:PATH` (default locally, .track-run/ledger): runs/<run-id>/… written
// atomically, a run folder appearing whole or not at all.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "../errors.js";
import { GitLedger, type GitLedgerOptions, parseGitLedgerUri } from "./git.js";

/** models/<model>/production.json: which run is in production, and how it got there. */
export interface ProductionPointer {
  model: string;
  runId: string;
  /** "sha256:…" of the run's manifest (canonical JSON). */
  manifestDigest: string;
  /** 1 for the first promotion, then +1 for each promotion or rollback. */
  seq: number;
  kind: "promotion" | "rollback";
  promotedAt: string;
  promotedBy: { actor?: string; workflowRun?: string; environment?: string };
  previous: { runId: string; manifestDigest: string } | null;
}

export interface LedgerStore {
  readonly uri: string;
  /** Records a run's files; returns where they are. Refuses to overwrite a run. */
  putRun(runId: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string>;
  /** Adds (or replaces) one file of a recorded run, atomically. */
  putRunFile(runId: string, name: string, body: string | Uint8Array): Promise<void>;
  /** A run's file, or undefined. */
  readRunFile(runId: string, name: string): Promise<Buffer | undefined>;
  listRuns(): Promise<string[]>;
  /** The model's production pointer (undefined before the first promotion). */
  readProduction(model: string): Promise<ProductionPointer | undefined>;
  /**
   * One compare-and-swap update: writes `next` (and its signed record beside it) only if the
   * production pointer's seq is still `expectedSeq` (0: none yet). False when it changed first.
   */
  swapProduction(
    model: string,
    expectedSeq: number,
    next: ProductionPointer,
    record: string,
  ): Promise<boolean>;
  /** Every promotion and rollback of the model, oldest first. */
  promotions(model: string): Promise<ProductionPointer[]>;
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

  private modelDir(model: string): string {
    return join(this.root, "models", model);
  }

  async readProduction(model: string): Promise<ProductionPointer | undefined> {
    try {
      return JSON.parse(
        fs.readFileSync(join(this.modelDir(model), "production.json"), "utf8"),
      ) as ProductionPointer;
    } catch {
      return undefined;
    }
  }

  async swapProduction(
    model: string,
    expectedSeq: number,
    next: ProductionPointer,
    record: string,
  ): Promise<boolean> {
    const dir = this.modelDir(model);
    fs.mkdirSync(join(dir, "promotions"), { recursive: true });
    const lock = join(dir, ".lock");
    // The lock makes read-compare-write one step; a lock older than 30 s is a crashed writer's.
    for (let i = 0; ; i++) {
      try {
        fs.writeFileSync(lock, String(process.pid), { flag: "wx" });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        try {
          if (Date.now() - fs.statSync(lock).mtimeMs > 30_000) fs.rmSync(lock, { force: true });
        } catch {
          // gone already
        }
        if (i > 600)
          throw new UsageError("ledger-locked", `${lock} stays locked; remove it if no promotion is running`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      const current = await this.readProduction(model);
      if ((current?.seq ?? 0) !== expectedSeq) return false;
      const name = `${String(next.seq).padStart(6, "0")}-${next.runId}`;
      const tmp = join(dir, `.${randomBytes(4).toString("hex")}.tmp`);
      fs.writeFileSync(tmp, record);
      fs.renameSync(tmp, join(dir, "promotions", `${name}.sigstore.json`));
      fs.writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`);
      fs.renameSync(tmp, join(dir, "promotions", `${name}.json`));
      fs.writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`);
      fs.renameSync(tmp, join(dir, "production.json"));
      return true;
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }

  async promotions(model: string): Promise<ProductionPointer[]> {
    const dir = join(this.modelDir(model), "promotions");
    try {
      return fs
        .readdirSync(dir)
        .filter((n) => n.endsWith(".json") && !n.endsWith(".sigstore.json"))
        .sort()
        .map((n) => JSON.parse(fs.readFileSync(join(dir, n), "utf8")) as ProductionPointer);
    } catch {
      return [];
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

/**
 * Opens a ledger by URI: `dir:PATH`, or `git:https://HOST/OWNER/REPO.git#BRANCH` (written through a
 * bare cache repository under `git.cacheDir`, pushed with `git.token`).
 */
export function openLedger(uri: string, git?: GitLedgerOptions): LedgerStore {
  if (uri.startsWith("dir:") && uri.length > 4) return new DirLedger(uri.slice(4));
  if (uri.startsWith("git:")) {
    const { url, branch } = parseGitLedgerUri(uri);
    return new GitLedger(url, branch, git ?? { cacheDir: join(".track-run", "cache") });
  }
  throw new UsageError(
    "bad-ledger",
    `ledger "${uri}" is not a ledger URI: use dir:PATH (default dir:.track-run/ledger) or git:https://HOST/OWNER/REPO.git#BRANCH`,
  );
}
