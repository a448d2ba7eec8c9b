// The local index of verified run records: a SQLite database (node:sqlite) per ledger URI under the
// cache folder. Per run folder it remembers, for one trust fingerprint, the record as the reader
// verified it and two keys:
// - the content key (the folder's git tree oid, or the stat signature of every file a dir: folder
//   holds): a record whose content key matches is returned whole without reading its files; this is
//   how a command reads a run it shows or decides on;
// - the folder key (the git tree oid again, or the stat of the dir: folder itself, which changes
//   when a file is added, removed or renamed in it or the folder is replaced): a listing of the whole
//   ledger trusts a row's columns and slim record (listing.ts) while it matches, so 10,000 runs list
//   with one stat each. A dir: row keeps its key's numbers too (f_* columns), which a listing compares
//   with the folders' stats, and then asks its questions of the rows in SQL (run-listing.ts). A file
//   of a dir: folder edited in place shows as it was verified until the run is shown or decided on
//   (read by its content key) and found damaged.
// Anything else is verified as before and written back. The signed records stay the source of truth:
// a database that cannot be opened, is not SQLite or has another schema is deleted and rebuilt, and
// any failure later only turns the index off for the command.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { type NodeId, type RunLink, runLinks } from "./graph.js";
import { codeUnitOrder, type ListedRun, type ListingEntry, listedRun, listingEntry } from "./listing.js";
import { indexedValues, type indexFilter, PARAMS_BEYOND } from "./query.js";
import type { PromotionCopy, RunRecord, Trust } from "./records.js";
import { type ListingRows, type Pick, picksAll } from "./run-listing.js";
import type { FolderStats, LedgerSnapshot } from "./types.js";

type Database = import("node:sqlite").DatabaseSync;
type Statement = import("node:sqlite").StatementSync;

/** The schema of the database; another value means the file is rebuilt. */
const SCHEMA_VERSION = 11;
/** Bumped whenever verification changes what a record holds: older rows are then re-verified. */
const VERIFIER_VERSION = 3;
/** A file modified this close to the row's writing may have changed unseen within a timestamp tick. */
const RACY_NS_NUMBER = 2e9;

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

/**
 * A dir: run folder's folder key: `dir:<inode> <device> <mode> <mtime ms> <ctime ms>@<newest of the
 * two, in ns>` of the folder itself (one lstat); undefined when it is no folder.
 */
export function folderStatKey(st: fs.Stats): string | undefined {
  return st.isDirectory() ? folderKeyOf(st.ino, st.dev, st.mode, st.mtimeMs, st.ctimeMs) : undefined;
}

/** The folder key of these stats (folderStatKey). */
function folderKeyOf(ino: number, dev: number, mode: number, mtimeMs: number, ctimeMs: number): string {
  return `dir:${ino} ${dev} ${mode} ${mtimeMs} ${ctimeMs}@${Math.ceil(Math.max(mtimeMs, ctimeMs) * 1e6)}`;
}

/** The folder key of the run at position `i` of FolderStats (undefined where there is no folder). */
export function folderKeyAt(stats: FolderStats, i: number): string | undefined {
  const ino = stats.ino[i]!;
  return Number.isNaN(ino)
    ? undefined
    : folderKeyOf(ino, stats.dev[i]!, stats.mode[i]!, stats.mtime[i]!, stats.ctime[i]!);
}

/**
 * The numbers of a stored dir: folder key (folderKeyOf), as the row's f_* columns: what a listing
 * compares without reading the key's text. Nulls for any other key (a git tree oid, a smudged key).
 */
function folderNumbers(stored: string): Array<number | null> {
  const m = /^dir:(\d+) (\d+) (\d+) (\S+) (\S+)@\d+$/.exec(stored);
  const nums = m ? m.slice(1, 6).map(Number) : [];
  return nums.length === 5 && nums.every(Number.isFinite) ? nums : [null, null, null, null, null];
}

/** Promotion copies as a column: one line each, "name TAB model TAB seq TAB digest" (names hold neither). */
const formatCopies = (copies: readonly PromotionCopy[]): string =>
  copies.map((c) => [c.name, c.model ?? "", c.seq ?? "", c.digest ?? ""].join("\t")).join("\n");

function parseCopies(text: string): PromotionCopy[] {
  return text.split("\n").map((line) => {
    const [name, model, seq, digest] = line.split("\t");
    return {
      name: name ?? "",
      ...(model ? { model } : {}),
      ...(seq && /^\d+$/.test(seq) ? { seq: Number(seq) } : {}),
      ...(digest ? { digest } : {}),
    };
  });
}

/**
 * Rows by their run id in JavaScript's order (code units), as listings order run ids: SQLite's
 * order (UTF-8 bytes) differs for ids beyond U+FFFF. Rows come nearly sorted: a cheap sort.
 */
function byCodeUnit<T extends readonly [string, ...unknown[]]>(rows: T[]): T[] {
  return rows.sort((a, b) => codeUnitOrder(a[0], b[0]));
}

/** A listing entry's columns, in the order entryOf() reads them. */
const ENTRY_COLUMNS = "run_id, folder, trust, model, commit_sha, repro_of, finished, copies";

function entryOf([runId, folder, trust, model, commit, reproductionOf, finished, copies]: ReadonlyArray<
  string | null
>): ListingEntry {
  const e: ListingEntry = { runId: runId!, trust: trust as ListingEntry["trust"], folder: folder! };
  if (model !== null) e.model = model!;
  if (commit !== null) e.commit = commit!;
  if (reproductionOf !== null) e.reproductionOf = reproductionOf!;
  if (finished !== null) e.finishedAt = finished!;
  if (copies !== null) e.promotionCopies = parseCopies(copies!);
  return e;
}

/** The rows of trust `fp` a Pick picks, as SQL (each field exactly as picks() reads it). */
function pickSql(fp: string, p: Pick): { where: string; args: Array<string | number> } {
  // "+fp": a scan of the table, never of an index that holds fp only as part of the key (it would
  // look up every row).
  const where = ["+fp = ?"];
  const args: Array<string | number> = [fp];
  const add = (sql: string, ...values: Array<string | number>) => {
    where.push(sql);
    args.push(...values);
  };
  if (p.model !== undefined) add("model = ?", p.model);
  if (p.modelOrNone !== undefined) add("(model IS NULL OR model = ?)", p.modelOrNone);
  if (p.commitPrefix !== undefined)
    add("substr(commit_sha, 1, ?) = ?", p.commitPrefix.length, p.commitPrefix);
  if (p.reproductionOf !== undefined) add("repro_of = ?", p.reproductionOf);
  if (p.original) add("repro_of IS NULL");
  if (p.withCopies) add("copies IS NOT NULL");
  return { where: where.join(" AND "), args };
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * A key with a timestamp suffix (dir: ledgers) taken within the racy window of the row's writing
 * (compared as doubles: their 256 ns of rounding is nothing against a 2 s window).
 */
function racy(key: string, writtenNs: string): boolean {
  const at = key.lastIndexOf("@");
  if (at < 0 || !(key.startsWith("stat:") || key.startsWith("dir:"))) return false;
  const newest = Number(key.slice(at + 1));
  const written = Number(writtenNs);
  return !(Number.isFinite(newest) && Number.isFinite(written)) || newest >= written - RACY_NS_NUMBER;
}

/**
 * A folder key as its row stores it: smudged ("racy:" before it, which no folder's key equals) when
 * it was taken within the racy window of `at`, so that no listing takes the row on its stats until
 * the run is verified and written again. Decided once, at writing: both times are then fixed, and a
 * listing of 10,000 runs compares each row's key as it is.
 */
const storedFolder = (folder: string, at: string): string => (racy(folder, at) ? `racy:${folder}` : folder);

/** A verified record to write, with the time its keys were taken (the racy rule measures from it). */
type Pending = { runId: string; key: string; folder: string; fp: string; record: RunRecord; at: string };

export class RunIndex {
  /** What this process found in the index and what it had to verify. */
  readonly counts = { hits: 0, verified: 0 };
  private readonly fingerprints = new WeakMap<Trust, string>();
  private pending: Pending[] = [];
  private refreshed: Array<[runId: string, folder: string, at: string, fp: string]> = [];
  /** Rows of run folders a dir: listing found gone, by run id and trust fingerprint. */
  private gone: Array<readonly [runId: string, fp: string]> = [];
  /** A listing to record as complete: every run folder's key, or the changes since a complete one. */
  private complete?: { runsKey: string; fp: string } & (
    | { folders: ReadonlyMap<string, string> }
    | { from: string; changes: ReadonlyMap<string, string | undefined> }
  );
  private flushing = false;
  private get: Statement;
  private put: Statement;

  private constructor(
    readonly path: string,
    private db: Database | undefined,
  ) {
    this.get = db!.prepare(
      "SELECT key, folder, fp, written_ns, record FROM runs WHERE run_id = ? AND fp = ?",
    );
    this.put = db!.prepare(
      `INSERT OR REPLACE INTO runs (run_id, key, folder, fp, written_ns, trust, model, commit_sha, repro_of,
        finished, copies, listed, record, f_ino, f_dev, f_mode, f_mtime, f_ctime)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
          // A row per run and trust fingerprint (one trust never evicts another's). The columns a
          // listing reads come before the records: a row's columns after a large one are read
          // through its overflow pages.
          db.exec(`BEGIN IMMEDIATE;
            CREATE TABLE IF NOT EXISTS runs (run_id TEXT NOT NULL, key TEXT NOT NULL, folder TEXT NOT NULL,
              fp TEXT NOT NULL, written_ns TEXT NOT NULL, trust TEXT NOT NULL, model TEXT, commit_sha TEXT,
              repro_of TEXT, finished TEXT, copies TEXT, f_ino REAL, f_dev REAL, f_mode REAL, f_mtime REAL,
              f_ctime REAL, listed TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (run_id, fp)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS runs_finished ON runs (finished, run_id);
            CREATE TABLE IF NOT EXISTS confirmed (run_id TEXT PRIMARY KEY, folder TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS links (owner TEXT NOT NULL, run TEXT NOT NULL, node TEXT NOT NULL,
              dir TEXT NOT NULL, digest TEXT);
            CREATE INDEX IF NOT EXISTS links_node ON links (node, dir);
            CREATE INDEX IF NOT EXISTS links_run ON links (run, dir);
            CREATE INDEX IF NOT EXISTS links_owner ON links (owner);
            CREATE INDEX IF NOT EXISTS links_digest ON links (digest) WHERE digest IS NOT NULL;
            CREATE TABLE IF NOT EXISTS vals (run_id TEXT NOT NULL, key TEXT NOT NULL, num REAL);
            CREATE INDEX IF NOT EXISTS vals_key ON vals (key, num);
            CREATE INDEX IF NOT EXISTS vals_run ON vals (run_id);
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
    let folder: string | undefined;
    const at = String(nowNs());
    try {
      // Both keys before anything is read: a change while verifying shows next time.
      key = await s.runKey(runId);
      folder = (await s.runFolderKey?.(runId)) ?? key;
    } catch {
      return verify();
    }
    if (key === undefined || folder === undefined) return undefined;
    const fp = this.fingerprint(trust);
    const hit = this.lookup(runId, key, fp);
    if (hit) {
      this.counts.hits++;
      if (hit.folder !== folder) this.queue(() => this.refreshed.push([runId, folder, at, fp]));
      return hit.record;
    }
    this.counts.verified++;
    const record = await verify();
    // A record that could not be read at all (a read that failed, a file of the wrong kind) is not
    // kept: what failed this time may not fail next time, and a git tree oid would never change.
    if (!(record.trust === "damaged" && record.problems.some((p) => p.includes(" cannot be read: "))))
      this.queue(() => this.pending.push({ runId, key, folder, fp, record, at }));
    return record;
  }

  private queue(add: () => void): void {
    add();
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  private lookup(runId: string, key: string, fp: string): { record: RunRecord; folder: string } | undefined {
    if (!this.db) return undefined;
    let row: { key: string; fp: string; written_ns: string; record: string; folder?: string } | undefined;
    try {
      row = this.get.get(runId, fp) as typeof row;
    } catch {
      this.off();
      return undefined;
    }
    if (!row || row.key !== key || row.fp !== fp || racy(key, row.written_ns)) return undefined;
    try {
      const r = JSON.parse(row.record) as RunRecord;
      return r.runId === runId ? { record: r, folder: row.folder ?? "" } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The listing entries of the runs whose folder key (`folders`, from the snapshot) and trust
   * fingerprint match their row (a key taken within the racy window was stored smudged): what a
   * listing may take from the index. The runs left out are to be verified (and are then written
   * back by record()).
   */
  fresh(
    folders: ReadonlyMap<string, string>,
    trust: Trust,
    o: { only?: boolean } = {},
  ): Map<string, ListingEntry> {
    const out = new Map<string, ListingEntry>();
    if (!this.db) return out;
    let rows: Array<Array<string | null>>;
    try {
      const st = this.db.prepare(
        `SELECT ${ENTRY_COLUMNS} FROM runs WHERE +fp = ?
          ${o.only ? "AND run_id IN (SELECT value FROM json_each(?))" : ""} ORDER BY run_id`,
      );
      // Rows as arrays: 10,000 of them are read by a listing in memory.
      st.setReturnArrays(true);
      const fp = this.fingerprint(trust);
      rows = (o.only ? st.all(fp, JSON.stringify([...folders.keys()])) : st.all(fp)) as unknown as Array<
        Array<string | null>
      >;
    } catch {
      this.off();
      return out;
    }
    for (const row of rows) {
      if (folders.get(row[0]!) !== row[1]) continue;
      this.counts.hits++;
      out.set(row[0]!, entryOf(row));
    }
    return out;
  }

  /**
   * Of the run folders `ids` (sorted) with their stats, the positions whose row under this trust
   * holds the same stats (its folder key's numbers; a key taken within the racy window was stored
   * smudged, without them), each a hit, and the index's version before they were read (a listing's
   * rows are answered from the index while it stays so). Undefined when the index is off.
   */
  freshRuns(
    ids: readonly string[],
    stats: FolderStats,
    trust: Trust,
  ): { fresh: Uint8Array; version: number } | undefined {
    if (!this.db) return undefined;
    try {
      const version = this.version();
      if (version === undefined) return undefined;
      const st = this.db.prepare(
        "SELECT run_id, f_ino, f_dev, f_mode, f_mtime, f_ctime FROM runs WHERE +fp = ? ORDER BY run_id",
      );
      // Rows as arrays of numbers, merged with the sorted ids: 10,000 of them are read by every listing.
      st.setReturnArrays(true);
      const fp = this.fingerprint(trust);
      const rows = byCodeUnit(st.all(fp) as unknown as Array<[string, ...Array<number | null>]>);
      const fresh = new Uint8Array(ids.length);
      const gone: string[] = [];
      let count = 0;
      let i = 0;
      for (const [id, ino, dev, mode, mtime, ctime] of rows) {
        // (A row whose id sorts otherwise in SQLite than here is only verified again.)
        while (i < ids.length && ids[i]! < id) i++;
        if (ids[i] !== id) gone.push(id);
        else if (
          ino === stats.ino[i] &&
          dev === stats.dev[i] &&
          mode === stats.mode[i] &&
          mtime === stats.mtime[i] &&
          ctime === stats.ctime[i]
        ) {
          fresh[i] = 1;
          count++;
        }
      }
      this.counts.hits += count;
      // The rows of run folders no longer there go at the next flush (a listing's scans skip them).
      if (gone.length) this.queue(() => this.gone.push(...gone.map((id) => [id, fp] as const)));
      return { fresh, version };
    } catch {
      this.off();
      return undefined;
    }
  }

  /** SQLite's data_version: it changes when another process writes the index. */
  version(): number | undefined {
    try {
      return (this.db?.prepare("PRAGMA data_version").get() as { data_version: number } | undefined)
        ?.data_version;
    } catch {
      return undefined;
    }
  }

  /** The listing rows of this trust, asked by run-listing.ts (which re-checks each against its runs). */
  listingRows(trust: Trust): ListingRows {
    const fp = this.fingerprint(trust);
    const db = () => {
      if (!this.db) throw new Error("the index is off");
      return this.db;
    };
    const query = (columns: string, p: Pick, tail = "") => {
      const { where, args } = pickSql(fp, p);
      const st = db().prepare(`SELECT ${columns} FROM runs WHERE ${where} ${tail}`);
      st.setReturnArrays(true);
      return st.iterate(...args) as unknown as Iterable<Array<string | null>>;
    };
    return {
      version: () => this.version(),
      *rows(p, order) {
        // Newest first: by the (finished, run_id) index when every row may be picked; a filter's few
        // rows are sorted (walking the index would look up every row to test the filter).
        const by =
          order === "id"
            ? "ORDER BY run_id"
            : picksAll(p)
              ? "ORDER BY finished DESC, run_id DESC"
              : "ORDER BY +finished DESC, +run_id DESC";
        for (const row of query(ENTRY_COLUMNS, p, by)) yield entryOf(row);
      },
      *ids(p) {
        for (const [id] of query("run_id", p)) yield id!;
      },
      models(p) {
        return [...query("model, min(run_id)", p, "AND model IS NOT NULL GROUP BY model")].map(([m, id]) => ({
          model: m!,
          runId: id!,
        }));
      },
      row(runId) {
        const st = db().prepare(`SELECT ${ENTRY_COLUMNS} FROM runs WHERE fp = ? AND run_id = ?`);
        st.setReturnArrays(true);
        const row = st.get(fp, runId) as unknown as Array<string | null> | undefined;
        return row ? entryOf(row) : undefined;
      },
    };
  }

  /**
   * The slim records (listing.ts) of these runs, each from the row the listing accepted (the same
   * folder key and trust; a row rewritten since by another process is left out), by run id.
   */
  listed(folders: ReadonlyMap<string, string>, trust: Trust): Map<string, ListedRun> {
    const out = new Map<string, ListedRun>();
    if (!this.db || !folders.size) return out;
    const fp = this.fingerprint(trust);
    let rows: Array<{ run_id: string; listed: string; folder: string; fp: string }>;
    try {
      rows = this.db
        .prepare(
          "SELECT run_id, listed, folder, fp FROM runs WHERE fp = ? AND run_id IN (SELECT value FROM json_each(?))",
        )
        .all(fp, JSON.stringify([...folders.keys()])) as typeof rows;
    } catch {
      this.off();
      return out;
    }
    for (const row of rows) {
      if (row.fp !== fp || row.folder !== folders.get(row.run_id)) continue;
      try {
        const r = JSON.parse(row.listed) as ListedRun;
        if (r.runId === row.run_id) out.set(row.run_id, r);
      } catch {}
    }
    return out;
  }

  /**
   * The runs a query's filters can match, by the index's values (query.ts indexFilter): a superset,
   * the filters are then applied to their records; `exact` when it is the very set (every filter a
   * number compared with numbers only). Undefined when no filter narrows anything.
   */
  candidates(
    filters: ReadonlyArray<ReturnType<typeof indexFilter>>,
  ): { ids: Set<string>; exact: boolean } | undefined {
    if (!this.db) return undefined;
    let ids: Set<string> | undefined;
    let exact = filters.length > 0;
    try {
      for (const f of filters) {
        if (!f?.op) exact = false;
        if (!f) continue;
        const keys = f.key.startsWith("param.") ? [f.key, PARAMS_BEYOND] : [f.key];
        const st = this.db.prepare(
          `SELECT run_id, num IS NULL OR key = '${PARAMS_BEYOND}' AS loose FROM vals
            WHERE key IN (SELECT value FROM json_each(?))${f.op ? ` AND (num IS NULL OR key = '${PARAMS_BEYOND}' OR num ${f.op} ?)` : ""}`,
        );
        // Rows as arrays: a filter may match thousands.
        st.setReturnArrays(true);
        const rows = st.all(...[JSON.stringify(keys), ...(f.op ? [f.num!] : [])]) as unknown as Array<
          [string, number]
        >;
        const these = new Set<string>();
        for (const [runId, loose] of rows) {
          if (loose) exact = false;
          if (!ids || ids.has(runId)) these.add(runId);
        }
        ids = these;
      }
    } catch {
      this.off();
      return undefined;
    }
    return ids ? { ids, exact } : undefined;
  }

  /**
   * Of `within`, the runs that can be among the first `limit` sorted by `key`: those whose number is
   * at least (descending; at most, ascending) the limit-th best, ties kept, and every run whose value
   * is text. Undefined when fewer than `limit` have a number (runs without one sort last).
   */
  topBy(
    key: string,
    descending: boolean,
    limit: number,
    within: ReadonlySet<string>,
  ): Set<string> | undefined {
    if (!this.db) return undefined;
    const keys = JSON.stringify(key.startsWith("param.") ? [key, PARAMS_BEYOND] : [key]);
    const ids = JSON.stringify([...within]);
    try {
      // The limit-th best number among `within` (SQLite walks the (key, num) index in order).
      const edge = this.db
        .prepare(
          `SELECT num FROM vals WHERE key = ? AND num IS NOT NULL AND run_id IN (SELECT value FROM json_each(?))
            ORDER BY num ${descending ? "DESC" : "ASC"} LIMIT 1 OFFSET ?`,
        )
        .get(key, ids, limit - 1) as { num: number } | undefined;
      if (!edge) return undefined;
      const rows = this.db
        .prepare(
          `SELECT DISTINCT run_id FROM vals WHERE key IN (SELECT value FROM json_each(?))
            AND run_id IN (SELECT value FROM json_each(?))
            AND (num IS NULL OR key = '${PARAMS_BEYOND}' OR num ${descending ? ">=" : "<="} ?)`,
        )
        .all(keys, ids, edge.num) as Array<{ run_id: string }>;
      return new Set(rows.map((r) => r.run_id));
    } catch {
      this.off();
      return undefined;
    }
  }

  /** The links of these runs in one direction (their parents: in; their children: out). */
  linksOf(runs: readonly string[], dir: RunLink["dir"]): RunLink[] {
    return this.links("run", runs, dir);
  }

  /** The runs linked to these nodes in one direction (readers: in; producers: out). */
  linksTo(nodes: readonly NodeId[], dir: RunLink["dir"]): RunLink[] {
    return this.links("node", nodes, dir);
  }

  /**
   * Whether a record read a bag without a payload identity (made before identities were recorded):
   * its data node is the bag digest, which the index's links cannot match to the run that wrote its
   * files (only the whole graph does, by the files themselves).
   */
  hasDataWithoutIdentity(): boolean {
    try {
      return (
        this.db!.prepare(
          "SELECT 1 FROM links WHERE dir = 'in' AND digest IS NOT NULL AND node = 'data:' || digest LIMIT 1",
        ).get() !== undefined
      );
    } catch {
      return true;
    }
  }

  /** The data nodes read as a bag of this digest ("sha256:…"). */
  dataOfDigest(digest: string): NodeId[] {
    try {
      return (
        this.db!.prepare("SELECT DISTINCT node FROM links WHERE digest = ?").all(digest) as Array<{
          node: string;
        }>
      ).map((r) => r.node);
    } catch {
      return [];
    }
  }

  private links(column: "run" | "node", values: readonly string[], dir: RunLink["dir"]): RunLink[] {
    if (!this.db || !values.length) return [];
    return this.db
      .prepare(
        `SELECT DISTINCT run, node, dir FROM links WHERE ${column} IN (SELECT value FROM json_each(?)) AND dir = ?`,
      )
      .all(JSON.stringify(values), dir) as unknown as RunLink[];
  }

  /**
   * Whether the last complete listing was of the git: runs/ tree `runsKey` under this trust: then
   * `confirmed` holds each of its run folders' tree oid, and a row with that oid is that run's content.
   */
  isComplete(runsKey: string, trust: Trust): boolean {
    return runsKey.startsWith("tree:") && this.lastListing(trust) === runsKey;
  }

  /** The git: runs/ tree the last complete listing under this trust was of, if any. */
  lastListing(trust: Trust): string | undefined {
    if (!this.db) return undefined;
    try {
      const [key, fp] = this.listingState()?.split("\n") ?? [];
      return key?.startsWith("tree:") && fp === this.fingerprint(trust) ? key : undefined;
    } catch {
      this.off();
      return undefined;
    }
  }

  /** The state row of the last complete listing: "runs/ key LF trust fingerprint". */
  private listingState(): string | undefined {
    return (
      this.db!.prepare("SELECT value FROM state WHERE name = 'listing'").get() as
        | { value: string }
        | undefined
    )?.value;
  }

  /** Drops these rows (their run folders gone), and the links and values of runs left without a row. */
  private dropGone(gone: ReadonlyArray<readonly [string, string]>): void {
    this.db!.prepare(
      "DELETE FROM runs WHERE (run_id, fp) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))",
    ).run(JSON.stringify(gone));
    const ids = JSON.stringify(gone.map(([id]) => id));
    for (const [table, column] of [
      ["links", "owner"],
      ["vals", "run_id"],
    ])
      this.db!.prepare(
        `DELETE FROM ${table} WHERE ${column} IN (SELECT value FROM json_each(?))
          AND ${column} NOT IN (SELECT run_id FROM runs)`,
      ).run(ids);
  }

  /** Drops the rows of these runs (gone from runs/) from `tables`. */
  private dropRuns(
    ids: readonly string[],
    tables: ReadonlyArray<"runs" | "links" | "vals" | "confirmed">,
  ): void {
    const column = { runs: "run_id", links: "owner", vals: "run_id", confirmed: "run_id" };
    for (const table of tables)
      this.db!.prepare(`DELETE FROM ${table} WHERE ${column[table]} IN (SELECT value FROM json_each(?))`).run(
        JSON.stringify(ids),
      );
  }

  /**
   * A git: run's record when the complete listing of this very runs/ tree confirmed its tree oid and
   * the row holds that oid's content (content-addressed: the same bytes), without reading the tree.
   * `{}` when the tree has no such run; undefined when the row cannot vouch (read it as usual).
   */
  vouchedRecord(runId: string, trust: Trust, runsKey: string): { record?: RunRecord } | undefined {
    if (!this.db) return undefined;
    const fp = this.fingerprint(trust);
    let row: { folder: string | null; fp: string | null; record: string | null; same: number } | undefined;
    try {
      // One statement: the listing state and the rows read together (another process may relist).
      row = this.db
        .prepare(
          `SELECT c.folder, r.fp, r.record, c.folder = r.folder AS same FROM state s
            LEFT JOIN confirmed c ON c.run_id = ? LEFT JOIN runs r ON r.run_id = c.run_id AND r.fp = ?
            WHERE s.name = 'listing' AND s.value = ?`,
        )
        .get(runId, fp, `${runsKey}\n${fp}`) as typeof row;
    } catch {
      this.off();
      return undefined;
    }
    if (!row) return undefined;
    if (row.folder === null) return {};
    if (!row.same || row.fp !== fp || !row.record) return undefined;
    try {
      const record = JSON.parse(row.record) as RunRecord;
      if (record.runId !== runId) return undefined;
      this.counts.hits++;
      return { record };
    } catch {
      return undefined;
    }
  }

  /**
   * The runs of the tree isComplete() vouched for, each with its tree oid (but the runs `except`), in
   * run id order, and the index's version before they were read; undefined when a confirmed run's
   * row has changed since (read every folder's key instead). Each run's row is then its listing.
   */
  confirmedRuns(
    trust: Trust,
    runsKey: string,
    except?: ReadonlyMap<string, unknown>,
  ): { ids: string[]; folders: string[]; version: number } | undefined {
    if (!this.db) return undefined;
    const version = this.version();
    if (version === undefined) return undefined;
    // One read transaction: the state, the confirmed runs and their rows as of one moment.
    try {
      this.db.exec("BEGIN");
      try {
        if (!this.isComplete(runsKey, trust)) return undefined;
        const st = this.db.prepare(
          "SELECT run_id, folder FROM runs JOIN confirmed USING (run_id, folder) WHERE +fp = ? ORDER BY run_id",
        );
        st.setReturnArrays(true);
        const rows = byCodeUnit(st.all(this.fingerprint(trust)) as unknown as Array<[string, string]>);
        const n = (this.db.prepare("SELECT count(*) AS n FROM confirmed").get() as { n: number }).n;
        if (n !== rows.length) return undefined;
        const ids: string[] = [];
        const folders: string[] = [];
        for (const [id, folder] of rows)
          if (!except?.has(id)) {
            ids.push(id);
            folders.push(folder);
          }
        this.counts.hits += ids.length;
        return { ids, folders, version };
      } finally {
        this.db?.exec("COMMIT");
      }
    } catch {
      this.off();
      return undefined;
    }
  }

  /**
   * After a listing went over every run folder of the git: runs/ tree `runsKey` (`folders`: each
   * run's tree oid, every one fresh or verified and queued): rows of runs gone are dropped, each row
   * whose folder key is that run's is confirmed under `runsKey`, and the count kept, in the same
   * transaction as the rows.
   */
  completeListing(runsKey: string, trust: Trust, folders: ReadonlyMap<string, string>): void {
    if (runsKey.startsWith("tree:")) this.complete = { runsKey, fp: this.fingerprint(trust), folders };
  }

  /**
   * After a listing of the git: runs/ tree `runsKey` made from the complete listing of `from` and
   * the run folders that differ between the two trees (`changes`: each changed run's tree oid, or
   * undefined for a run gone; every changed run fresh or verified and queued): the confirmed runs
   * are changed by those alone, in the transaction that checks the index still holds `from`'s.
   */
  extendListing(
    from: string,
    runsKey: string,
    trust: Trust,
    changes: ReadonlyMap<string, string | undefined>,
  ): void {
    if (runsKey.startsWith("tree:")) this.complete = { runsKey, fp: this.fingerprint(trust), from, changes };
  }

  /** Writes what was verified since the last flush, in one transaction (a busy database skips it). */
  flush(): void {
    this.flushing = false;
    const rows = this.pending;
    const refreshed = this.refreshed;
    const complete = this.complete;
    const gone = this.gone;
    this.pending = [];
    this.refreshed = [];
    this.complete = undefined;
    this.gone = [];
    if (!this.db || (!rows.length && !refreshed.length && !complete && !gone.length)) return;
    try {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        if (gone.length) this.dropGone(gone);
        // Links and values go in as one JSON array each: a first build writes 10,000 runs' worth.
        // They are kept per run, not per trust: a damaged record (under one policy it may be damaged,
        // under another untrusted) leaves them as they are; they only narrow what is then read.
        const links: unknown[] = [];
        const vals: unknown[] = [];
        const ids = JSON.stringify(rows.filter((r) => r.record.trust !== "damaged").map((r) => r.runId));
        this.db.prepare("DELETE FROM links WHERE owner IN (SELECT value FROM json_each(?))").run(ids);
        this.db.prepare("DELETE FROM vals WHERE run_id IN (SELECT value FROM json_each(?))").run(ids);
        for (const { runId, key, folder, fp, record, at } of rows) {
          const listed = listedRun(record);
          if (record.trust !== "damaged") {
            for (const l of runLinks(record)) links.push([runId, l.run, l.node, l.dir, l.digest ?? null]);
            for (const [k, v] of indexedValues(listed))
              vals.push([runId, k, typeof v === "number" ? v : null]);
          }
          const { document: _raw, ...kept } = record;
          const e = listingEntry(record);
          const stored = storedFolder(folder, at);
          this.put.run(
            runId,
            key,
            stored,
            fp,
            at,
            record.trust,
            e.model ?? null,
            e.commit ?? null,
            e.reproductionOf ?? null,
            e.finishedAt ?? null,
            e.promotionCopies ? formatCopies(e.promotionCopies) : null,
            JSON.stringify(listed),
            JSON.stringify(kept),
            ...folderNumbers(stored),
          );
        }
        this.db
          .prepare(
            `INSERT INTO links (owner, run, node, dir, digest) SELECT value ->> 0, value ->> 1, value ->> 2,
              value ->> 3, value ->> 4 FROM json_each(?)`,
          )
          .run(JSON.stringify(links));
        this.db
          .prepare(
            "INSERT INTO vals (run_id, key, num) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)",
          )
          .run(JSON.stringify(vals));
        // A record found by its content key under a changed folder key: the folder key is taken now.
        const update = this.db.prepare(
          `UPDATE runs SET folder = ?, written_ns = ?, f_ino = ?, f_dev = ?, f_mode = ?, f_mtime = ?, f_ctime = ?
            WHERE run_id = ? AND fp = ?`,
        );
        for (const [runId, folder, keyAt, fp] of refreshed) {
          const stored = storedFolder(folder, keyAt);
          update.run(stored, keyAt, ...folderNumbers(stored), runId, fp);
        }
        // A listing made from an earlier one counts only while the index still holds that one
        // (another process may have listed since).
        if (
          complete &&
          (!("from" in complete) || this.listingState() === `${complete.from}\n${complete.fp}`)
        ) {
          if ("from" in complete) {
            const gone = [...complete.changes].filter(([, f]) => f === undefined).map(([id]) => id);
            this.dropRuns(gone, ["runs", "links", "vals", "confirmed"]);
            this.db
              .prepare(
                "INSERT OR REPLACE INTO confirmed (run_id, folder) SELECT key, value FROM json_each(?)",
              )
              .run(
                JSON.stringify(Object.fromEntries([...complete.changes].filter(([, f]) => f !== undefined))),
              );
          } else {
            const folders = JSON.stringify(Object.fromEntries(complete.folders));
            // Rows of this trust for runs no longer there go.
            const gone = this.db
              .prepare(
                "SELECT run_id FROM runs WHERE +fp = ? AND run_id NOT IN (SELECT key FROM json_each(?))",
              )
              .all(complete.fp, folders) as Array<{ run_id: string }>;
            this.dropRuns(
              gone.map((r) => r.run_id),
              ["runs", "links", "vals"],
            );
            // Each run folder's tree oid in this runs/ tree, and the tree itself.
            this.db.exec("DELETE FROM confirmed");
            this.db
              .prepare("INSERT INTO confirmed (run_id, folder) SELECT key, value FROM json_each(?)")
              .run(folders);
          }
          this.db
            .prepare("INSERT OR REPLACE INTO state (name, value) VALUES ('listing', ?)")
            .run(`${complete.runsKey}\n${complete.fp}`);
        }
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
