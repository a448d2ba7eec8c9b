// The local index of verified run records: a SQLite database (node:sqlite) per ledger URI under the
// cache folder. Per run folder it remembers a content key (the folder's git tree oid, or the stat
// signature of the files a dir: ledger holds) and the record as the reader verified it, for one trust
// fingerprint. A record whose key and fingerprint match is returned without reading its files;
// anything else is verified as before and written back. The signed records stay the source of truth:
// a database that cannot be opened, is not SQLite or has another schema is deleted and rebuilt, and
// any failure later only turns the index off for the command.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import type { RunRecord, Trust } from "./records.js";
import type { LedgerSnapshot } from "./types.js";

type Database = import("node:sqlite").DatabaseSync;
type Statement = import("node:sqlite").StatementSync;

/** The schema of the database; another value means the file is rebuilt. */
const SCHEMA_VERSION = 1;
/** Bumped whenever verification changes what a record holds: older rows are then re-verified. */
const VERIFIER_VERSION = 1;
/** A file modified this close to the row's writing may have changed unseen within a timestamp tick. */
const RACY_NS = 2_000_000_000n;

/** sha256 over what the reader trusts: a record verified under other keys is verified again. */
export function trustFingerprint(trust: Trust): string {
  const h = createHash("sha256");
  h.update(`track-run-index ${VERIFIER_VERSION}\n`);
  for (const k of [...trust.keys].map((k) => `${k.keyId} ${k.pem.trim()}`).sort()) h.update(`key ${k}\n`);
  h.update(`identities ${JSON.stringify(trust.identities ?? [])}\n`);
  h.update(`root ${JSON.stringify(trust.trustedRoot ?? null)}\n`);
  return h.digest("hex");
}

/** Where the index of a ledger lives under the cache folder. */
export function runIndexPath(cacheDir: string, uri: string): string {
  return join(
    cacheDir,
    "ledger-index",
    `${createHash("sha256").update(uri).digest("hex").slice(0, 24)}.sqlite`,
  );
}

/**
 * A dir: ledger's key: `stat:<sha256 of the folder's entries' name, size, mtime, ctime, inode,
 * device, mode>@<newest mtime or ctime in ns>`; the suffix feeds the racy-timestamp rule.
 */
export function statKey(dir: string): string | undefined {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(dir, { bigint: true });
  } catch {
    return undefined;
  }
  if (!st.isDirectory()) return undefined;
  const h = createHash("sha256");
  let newest = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
  for (const name of fs.readdirSync(dir).sort()) {
    const f = fs.lstatSync(join(dir, name), { bigint: true });
    h.update(`${name}\0${f.mode} ${f.size} ${f.mtimeNs} ${f.ctimeNs} ${f.ino} ${f.dev}\n`);
    if (f.mtimeNs > newest) newest = f.mtimeNs;
    if (f.ctimeNs > newest) newest = f.ctimeNs;
  }
  return `stat:${h.digest("hex")}@${newest}`;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export class RunIndex {
  /** What this process found in the index and what it had to verify. */
  readonly counts = { hits: 0, verified: 0 };
  private readonly fingerprints = new WeakMap<Trust, string>();
  private pending: [string, string, string, string, string][] = [];
  private flushing = false;
  private get: Statement;
  private put: Statement;

  private constructor(
    readonly path: string,
    private db: Database | undefined,
  ) {
    this.get = db!.prepare("SELECT key, fp, written_ns, record FROM runs WHERE run_id = ?");
    this.put = db!.prepare(
      "INSERT OR REPLACE INTO runs (run_id, key, fp, written_ns, record) VALUES (?, ?, ?, ?, ?)",
    );
  }

  /**
   * The index of the ledger `uri` under `cacheDir`, made when missing and rebuilt when unreadable;
   * undefined when this Node has no node:sqlite or the cache folder cannot be written (commands then
   * verify every record, as without an index).
   */
  static async open(cacheDir: string, uri: string): Promise<RunIndex | undefined> {
    let sqlite: typeof import("node:sqlite");
    try {
      sqlite = await import("node:sqlite");
    } catch {
      return undefined;
    }
    const path = runIndexPath(cacheDir, uri);
    try {
      fs.mkdirSync(join(cacheDir, "ledger-index"), { recursive: true });
    } catch {
      return undefined;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      let db: Database | undefined;
      try {
        db = new sqlite.DatabaseSync(path);
        db.exec("PRAGMA busy_timeout = 5000");
        const version = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
        if (version === 0) {
          db.exec(`BEGIN IMMEDIATE;
            CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, key TEXT NOT NULL, fp TEXT NOT NULL,
              written_ns TEXT NOT NULL, record TEXT NOT NULL) WITHOUT ROWID;
            PRAGMA user_version = ${SCHEMA_VERSION};
            COMMIT;`);
        } else if (version !== SCHEMA_VERSION) throw new Error(`schema version ${version}`);
        db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
        return new RunIndex(path, db);
      } catch {
        // Not SQLite, damaged, or another schema: the records are the truth, so start over.
        try {
          db?.close();
        } catch {}
        for (const suffix of ["", "-wal", "-shm", "-journal"]) fs.rmSync(`${path}${suffix}`, { force: true });
      }
    }
    return undefined;
  }

  private fingerprint(trust: Trust): string {
    let fp = this.fingerprints.get(trust);
    if (!fp) {
      fp = trustFingerprint(trust);
      this.fingerprints.set(trust, fp);
    }
    return fp;
  }

  /**
   * The record of one run folder: from the index when its content key and the trust fingerprint
   * match (and a dir: folder's files were not modified within 2 s of the row's writing), otherwise
   * from `verify`, remembered for the next command. Undefined when there is no such run folder.
   */
  async record(
    s: LedgerSnapshot,
    runId: string,
    trust: Trust,
    verify: () => Promise<RunRecord>,
  ): Promise<RunRecord | undefined> {
    if (!this.db || !s.runKey) return verify();
    let key: string | undefined;
    try {
      key = await s.runKey(runId);
    } catch {
      return verify();
    }
    if (key === undefined) return undefined;
    const fp = this.fingerprint(trust);
    const hit = this.lookup(runId, key, fp);
    if (hit) {
      this.counts.hits++;
      return hit;
    }
    this.counts.verified++;
    const record = await verify();
    const { document: _raw, ...kept } = record;
    this.pending.push([runId, key, fp, JSON.stringify(kept), String(nowNs())]);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
    return record;
  }

  private lookup(runId: string, key: string, fp: string): RunRecord | undefined {
    if (!this.db) return undefined;
    let row: { key: string; fp: string; written_ns: string; record: string } | undefined;
    try {
      row = this.get.get(runId) as typeof row;
    } catch {
      this.off();
      return undefined;
    }
    if (!row || row.key !== key || row.fp !== fp) return undefined;
    const at = key.lastIndexOf("@");
    if (key.startsWith("stat:") && at > 0 && BigInt(key.slice(at + 1)) >= BigInt(row.written_ns) - RACY_NS)
      return undefined;
    try {
      const r = JSON.parse(row.record) as RunRecord;
      return r.runId === runId ? r : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes what was verified since the last flush, in one transaction (a busy database skips it). */
  flush(): void {
    this.flushing = false;
    const rows = this.pending;
    this.pending = [];
    if (!this.db || !rows.length) return;
    try {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        for (const [runId, key, fp, record, at] of rows) this.put.run(runId, key, fp, at, record);
        this.db.exec("COMMIT");
      } catch (e) {
        this.db.exec("ROLLBACK");
        throw e;
      }
    } catch {
      // A cache: another process holding the database too long costs a re-verification next time.
    }
  }

  private off(): void {
    try {
      this.db?.close();
    } catch {}
    this.db = undefined;
  }

  close(): void {
    this.flush();
    this.off();
  }
}

/** The index of a ledger under the cache folder, or undefined where there can be none. */
export function openRunIndex(cacheDir: string | undefined, uri: string): Promise<RunIndex | undefined> {
  return cacheDir ? RunIndex.open(cacheDir, uri) : Promise.resolve(undefined);
}
