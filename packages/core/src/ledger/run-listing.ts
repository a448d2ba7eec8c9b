// A command's listing of the ledger: every run at the reader's snapshot, by the columns a command
// picks runs by (listing.ts ListingEntry). Two kinds answer the same questions:
// - MapListing holds every entry in memory (a git: ledger's listing, or any ledger without an index);
// - IndexedListing (a dir: ledger with its index) keeps only which runs are there: each run whose
//   index row matched its folder key is answered by that row in SQL, each run verified now from
//   memory. A question the index answers reads the rows it needs, not 10,000 of them.
// What a command picks from either it reads whole with find() before it shows or decides on it.
import { type ListingEntry, codeUnitOrder as order } from "./listing.js";

/** Which entries a question picks: every field given must hold. */
export interface Pick {
  /** Runs of this model. */
  model?: string;
  /** Runs of this model or of none (a damaged record has no model: it is never hidden). */
  modelOrNone?: string;
  /** Runs at a commit whose hex begins so. */
  commitPrefix?: string;
  /** Reproductions of this run. */
  reproductionOf?: string;
  /** True: runs that are no reproduction. */
  original?: true;
  /** True: runs holding promotion copies. */
  withCopies?: true;
}

export function picks(e: ListingEntry, p: Pick): boolean {
  return (
    (p.model === undefined || e.model === p.model) &&
    (p.modelOrNone === undefined || e.model === undefined || e.model === p.modelOrNone) &&
    (p.commitPrefix === undefined || e.commit?.startsWith(p.commitPrefix) === true) &&
    (p.reproductionOf === undefined || e.reproductionOf === p.reproductionOf) &&
    (!p.original || e.reproductionOf === undefined) &&
    (!p.withCopies || Boolean(e.promotionCopies?.length))
  );
}

/** Oldest first: by finishing time (a run without one first), then run id. */
export const byFinish = (a: ListingEntry, b: ListingEntry): number =>
  order(a.finishedAt ?? "", b.finishedAt ?? "") || order(a.runId, b.runId);

export interface RunListing {
  /** Every run, in run id order. */
  readonly ids: readonly string[];
  has(runId: string): boolean;
  /** The folder key its index row was accepted under (for its slim record); undefined to read it whole. */
  folderOf(runId: string): string | undefined;
  get(runId: string): Promise<ListingEntry | undefined>;
  /** The entries `p` picks, in run id order. */
  where(p: Pick): Promise<ListingEntry[]>;
  /** The newest `n` entries `p` picks (oldest first, byFinish), and how many it picks in all. */
  newest(p: Pick, n: number): Promise<{ entries: ListingEntry[]; total: number }>;
  /** The models of the entries `p` picks, sorted. */
  models(p: Pick): Promise<string[]>;
}

export class MapListing implements RunListing {
  readonly ids: readonly string[];

  constructor(private readonly entries: ReadonlyMap<string, ListingEntry>) {
    this.ids = [...entries.keys()];
  }

  has(runId: string): boolean {
    return this.entries.has(runId);
  }

  folderOf(runId: string): string | undefined {
    return this.entries.get(runId)?.folder;
  }

  async get(runId: string): Promise<ListingEntry | undefined> {
    return this.entries.get(runId);
  }

  async where(p: Pick): Promise<ListingEntry[]> {
    return [...this.entries.values()].filter((e) => picks(e, p));
  }

  async newest(p: Pick, n: number): Promise<{ entries: ListingEntry[]; total: number }> {
    const all = (await this.where(p)).sort(byFinish);
    return { entries: n > 0 ? all.slice(-n) : [], total: all.length };
  }

  async models(p: Pick): Promise<string[]> {
    return [...new Set((await this.where(p)).flatMap((e) => (e.model ? [e.model] : [])))].sort();
  }
}

/** What an IndexedListing asks of the index (run-index.ts). */
export interface ListingRows {
  /** Changes when another process writes the index: the rows may then no longer be those matched. */
  version(): number | undefined;
  /** The entries of the rows `p` picks, in run id order or newest first. */
  rows(p: Pick, order: "id" | "newest"): Iterable<ListingEntry>;
  /** The run ids of the rows `p` picks. */
  ids(p: Pick): Iterable<string>;
  /** The models of the rows `p` picks, each with one run of it (the first by id). */
  models(p: Pick): Array<{ model: string; runId: string }>;
  /** The entry of one run's row. */
  row(runId: string): ListingEntry | undefined;
}

export class IndexedListing implements RunListing {
  readonly ids: readonly string[];
  /** The listing in memory, once the index changed under this one. */
  private whole?: Promise<RunListing>;

  /**
   * `all`: every run folder, sorted; `fresh`: by position in `all`, 1 where the run's row matched its
   * folder key (`folderAt`) at index `version`; `verified`: the other runs, verified now (a run in
   * neither is gone). `materialize` lists the ledger again in memory, for when the index changed
   * under this listing.
   */
  constructor(
    private readonly all: readonly string[],
    private readonly fresh: Uint8Array,
    private readonly folderAt: (i: number) => string | undefined,
    private readonly verified: ReadonlyMap<string, ListingEntry>,
    private readonly index: ListingRows,
    private readonly at: number,
    private readonly materialize: () => Promise<RunListing>,
  ) {
    this.ids = all.filter((id, i) => fresh[i] === 1 || verified.has(id));
  }

  /** The position of a run in `all` (sorted by code unit), or -1. */
  private position(runId: string): number {
    let lo = 0;
    let hi = this.all.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const id = this.all[mid]!;
      if (id === runId) return mid;
      if (id < runId) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private isFresh(runId: string): boolean {
    const i = this.position(runId);
    return i >= 0 && this.fresh[i] === 1;
  }

  has(runId: string): boolean {
    return this.verified.has(runId) || this.isFresh(runId);
  }

  folderOf(runId: string): string | undefined {
    const i = this.position(runId);
    return i >= 0 && this.fresh[i] === 1 ? this.folderAt(i) : undefined;
  }

  /**
   * `fromIndex` while the index is as this listing matched it, before and after; else (another
   * process wrote it, or it failed) `q` of the ledger listed again in memory.
   */
  private async answer<T>(q: (l: RunListing) => Promise<T>, fromIndex: () => T): Promise<T> {
    if (!this.whole && this.index.version() === this.at)
      try {
        // Checked again after: another process may have written between the statements (all
        // synchronous here, so a write in between shows in the version).
        const answer = fromIndex();
        if (this.index.version() === this.at) return answer;
      } catch {
        // The index failed under this listing: list in memory.
      }
    this.whole ??= this.materialize();
    return q(await this.whole);
  }

  /** The rows of the fresh runs `p` picks, in `order`. */
  private *picked(p: Pick, order: "id" | "newest"): Generator<ListingEntry> {
    for (const e of this.index.rows(p, order)) if (this.isFresh(e.runId) && picks(e, p)) yield e;
  }

  get(runId: string): Promise<ListingEntry | undefined> {
    return this.answer(
      (l) => l.get(runId),
      () => this.verified.get(runId) ?? (this.isFresh(runId) ? this.index.row(runId) : undefined),
    );
  }

  where(p: Pick): Promise<ListingEntry[]> {
    return this.answer(
      (l) => l.where(p),
      () => {
        // In run id order by code unit (SQLite's differs beyond U+FFFF).
        const out = [...this.picked(p, "id"), ...[...this.verified.values()].filter((e) => picks(e, p))];
        return out.sort((a, b) => order(a.runId, b.runId));
      },
    );
  }

  newest(p: Pick, n: number): Promise<{ entries: ListingEntry[]; total: number }> {
    return this.answer(
      (l) => l.newest(p, n),
      () => {
        const verified = [...this.verified.values()].filter((e) => picks(e, p));
        const entries = [...verified];
        // The newest n, and the runs tied with the last of them whose ids SQLite may order otherwise:
        // beyond ASCII (UTF-8 bytes against code units), which come before ASCII ids either way.
        let last: ListingEntry | undefined;
        if (n > 0)
          for (const e of this.picked(p, "newest")) {
            if (last && (e.finishedAt !== last.finishedAt || ASCII.test(e.runId))) break;
            entries.push(e);
            if (!last && entries.length >= n + verified.length) last = e;
          }
        entries.sort(byFinish);
        let total = verified.length;
        if (picksAll(p)) total = this.ids.length;
        else for (const id of this.index.ids(p)) if (this.isFresh(id)) total++;
        return { entries: n > 0 ? entries.slice(-n) : [], total };
      },
    );
  }

  models(p: Pick): Promise<string[]> {
    return this.answer(
      (l) => l.models(p),
      () => {
        const models = new Set<string>();
        for (const e of this.verified.values()) if (e.model && picks(e, p)) models.add(e.model);
        // A model of the rows counts once a fresh run has it: the run given with it, usually; else
        // one found by a scan of its rows.
        for (const { model, runId } of this.index.models(p))
          if (!models.has(model) && (this.isFresh(runId) || this.any({ ...p, model }))) models.add(model);
        return [...models].sort();
      },
    );
  }

  /** Whether a fresh run's row is picked by `p` (the scan stops at the first). */
  private any(p: Pick): boolean {
    for (const _ of this.picked(p, "id")) return true;
    return false;
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** Whether `p` picks every run (no field given). */
export const picksAll = (p: Pick): boolean => Object.values(p).every((v) => v === undefined);
