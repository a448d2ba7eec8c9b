// The ledger's storage, as the stores (dir:, git:) implement it. Nothing read through these
// interfaces is believed: the verified reader (reader.ts) is the only door the commands use.

/**
 * A promotion or rollback: which run of a model went to production, by whom, replacing what. It is
 * the predicate of a signed record (models/<model>/promotions/NNNNNN.sigstore.json), and
 * models/<model>/production.json is a cache of the newest one.
 */
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
  /**
   * The hash chain: "sha256:…" of the previous promotion record's signed statement (its DSSE
   * payload), null for the first.
   */
  previousRecord?: string | null;
}

/** One consistent view of the ledger: every read of a command comes from one snapshot. */
export interface LedgerSnapshot {
  readonly uri: string;
  /** Run folder names (entries of runs/ that are folders, hidden ones left out). */
  listRuns(): Promise<string[]>;
  /** The files of one run folder; undefined when the folder does not exist or is not a folder. */
  listRunFiles(runId: string): Promise<string[] | undefined>;
  readRunFile(runId: string, name: string): Promise<Buffer | undefined>;
  /** The file names under models/<model>/promotions/ (hidden ones included: leftovers show there). */
  listPromotionFiles(model: string): Promise<string[]>;
  /** A file under models/<model>/ (e.g. production.json, promotions/000001.sigstore.json). */
  readModelFile(model: string, path: string): Promise<Buffer | undefined>;
  /** Model names with a folder under models/. */
  listModels(): Promise<string[]>;
  /** The entries of a top-level folder of the ledger (e.g. "invalidations"), [] when there is none. */
  listFolder(folder: string): Promise<string[]>;
  /** A file of a top-level folder of the ledger (e.g. "invalidations", "NAME.sigstore.json"). */
  readFolderFile(folder: string, name: string): Promise<Buffer | undefined>;
  /** Where a record lives, as people read it in messages (a path, or the ledger URI and path). */
  describe(path: string): string;
  /**
   * A key that changes whenever the run folder's content may have changed (git: the folder's tree
   * oid; dir: a stat signature of its files); undefined when there is no such run folder. The local
   * index (run-index.ts) keeps verified records by it.
   */
  runKey?(runId: string): Promise<string | undefined>;
  /**
   * A cheaper key of the run folder that changes whenever a file is added, removed or renamed in it,
   * or the folder is replaced (git: the tree oid again; dir: the folder's own stat). Listings trust
   * the index's rows while it matches (run-index.ts).
   */
  runFolderKey?(runId: string): Promise<string | undefined>;
  /**
   * A content key of runs/ as a whole (git: its tree oid; a dir: ledger has none, as a file changed
   * inside a run folder leaves runs/ as it was). While it matches the index's last complete
   * listing, a listing is the rows that listing confirmed.
   */
  runsKey?(): Promise<string | undefined>;
  /** The folder keys of these run folders (from listRuns()), by run id; folders gone are left out. */
  runFolderKeys?(runIds: readonly string[]): Promise<Map<string, string>>;
  /**
   * A dir: ledger's folder keys as numbers (one lstat per run, no key text): what a listing of
   * 10,000 runs compares with the index's rows (run-index.ts freshRuns).
   */
  runFolderStats?(runIds: readonly string[]): Promise<FolderStats>;
  /**
   * The run folders that differ between the runs/ of an earlier `runsKey` and this one: each
   * changed or added run's folder key, undefined for a run gone. Undefined when the earlier runs/
   * cannot be read (then every folder's key is compared instead).
   */
  runsChangedSince?(runsKey: string): Promise<Map<string, string | undefined> | undefined>;
}

export interface LedgerStore {
  readonly uri: string;
  /**
   * The ledger as one place, whatever the working folder: a dir: ledger's absolute path, a git:
   * ledger's remote and branch. Local state about a ledger (its index, its anchors) is keyed by it.
   */
  readonly identity: string;
  /** Checks, before a run starts, that the ledger can take its record (a folder made, a remote reached). */
  ready(): Promise<void>;
  /** A consistent view of the ledger now (a git: ledger is fetched once for it). */
  snapshot(): Promise<LedgerSnapshot>;
  /** Records a run's files; returns where they are. Refuses to overwrite a run. */
  putRun(runId: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string>;
  /**
   * Adds a file to a top-level folder of the ledger (e.g. invalidations/NAME.sigstore.json), whole
   * or not at all; false when a file of that name exists already (names are never reused).
   */
  putFolderFile(folder: string, name: string, body: string | Uint8Array): Promise<boolean>;
  /** Adds (or replaces) one file of a recorded run, atomically. */
  putRunFile(runId: string, name: string, body: string | Uint8Array): Promise<void>;
  /**
   * The commit point of a promotion: adds promotions/NNNNNN.sigstore.json (NNNNNN = pointer.seq)
   * only if no record of that number exists yet, and updates production.json to the pointer, in one
   * atomic step. False when another writer took that number first.
   */
  appendPromotion(model: string, pointer: ProductionPointer, record: string): Promise<boolean>;
  /**
   * Brings production.json in line with the verified head of the chain and removes what a killed
   * writer left (called by writers after they verified the chain).
   */
  repair(model: string, head: ProductionPointer | undefined): Promise<void>;
}

/** The name of a promotion record in models/<model>/promotions/. */
export function promotionFileName(seq: number): string {
  return `${String(seq).padStart(6, "0")}.sigstore.json`;
}

export const PROMOTION_FILE = /^(\d{6})\.sigstore\.json$/;

/**
 * A copy of a promotion record kept in the promoted run's folder (runs/<run>/), the sign that a
 * model has a promotion history should its models/<model>/ folder be deleted.
 */
export function promotionCopyName(model: string, seq: number): string {
  return `promotion-${model}-${String(seq).padStart(6, "0")}.sigstore.json`;
}

export const PROMOTION_COPY = /^promotion-(.+)-(\d{6})\.sigstore\.json$/;

/**
 * The stats a dir: run folder's key is made of (run-index.ts folderKeyOf), by position in the run ids
 * they were taken for; NaN where there is no folder.
 */
export interface FolderStats {
  readonly ino: Float64Array;
  readonly dev: Float64Array;
  readonly mode: Float64Array;
  readonly mtime: Float64Array;
  readonly ctime: Float64Array;
}
