// The ledger's one door. Every command that shows or decides reads through a LedgerReader: one
// snapshot of the ledger per command (one fetch on a git: ledger), each record verified once and its
// verdict remembered by its digest. Nothing unverified counts for a decision: unsigned and untrusted
// records are shown marked, damaged ones are reported with their path and never used.
import type { RunManifest } from "../__generated__/index.js";
import { CheckFailedError, UsageError } from "../errors.js";
import { checkPromotionCopies, ProductionAnchors } from "./anchor.js";
import { type ProductionChain, verifyChain } from "./chain.js";
import { dataNode, type LineageGraph, type NodeId, resolveNodes } from "./graph.js";
import { type Invalidations, readInvalidations } from "./invalidation.js";
import { readLineage } from "./lineage.js";
import { type ListedRun, type ListingEntry, listedRun, listingEntry } from "./listing.js";
import { type Filter, indexFilter, indexKey, type SortKey } from "./query.js";
import { type RunRecord, type SignatureVerdict, sha256Hex, type Trust, verifyRunRecord } from "./records.js";
import { folderKeyAt, type RunIndex } from "./run-index.js";
import { IndexedListing, MapListing, type RunListing } from "./run-listing.js";
import type { FolderStats, LedgerSnapshot, LedgerStore } from "./types.js";
import { type Direction, lineageNear } from "./walk.js";

export interface Reproduction {
  runId: string;
  verdict?: string;
  finishedAt: string;
  trust: RunRecord["trust"];
  /** True when it counts: both records verified, and it names the original's signed manifest. */
  counts: boolean;
}

/** A record a command decides or shows on: not damaged, with its signed manifest. */
export type LoadedRecord = RunRecord & { manifest: RunManifest };

/** `entries` itself when it holds exactly `ids`, in that order; else undefined. */
function sameOrder<T>(ids: readonly string[], entries: Map<string, T>): Map<string, T> | undefined {
  if (entries.size !== ids.length) return undefined;
  let i = 0;
  for (const id of entries.keys()) if (id !== ids[i++]) return undefined;
  return entries;
}

export class LedgerReader {
  private readonly records = new Map<string, Promise<RunRecord>>();
  private readonly chains = new Map<string, Promise<ProductionChain>>();
  private readonly memo = new Map<string, Promise<SignatureVerdict>>();
  private all?: Promise<ListedRun[]>;
  private list?: Promise<RunListing>;
  private state?: Promise<{ runsKey?: string; complete: boolean }>;
  private graph?: Promise<{ graph: LineageGraph; notes: string[] }>;
  private invalid?: Promise<Invalidations>;

  private constructor(
    readonly store: LedgerStore,
    readonly snapshot: LedgerSnapshot,
    readonly trust: Trust,
    private readonly index?: RunIndex,
  ) {}

  /**
   * Reads the ledger at one snapshot (fetched once for a git: ledger); with `index`, records whose
   * folder has not changed since they were verified come from the local index (run-index.ts).
   */
  static async open(store: LedgerStore, trust: Trust, o: { index?: RunIndex } = {}): Promise<LedgerReader> {
    return new LedgerReader(store, await store.snapshot(), trust, o.index);
  }

  get uri(): string {
    return this.store.uri;
  }

  /** A run's record, verified (undefined when there is no such run folder). */
  async find(runId: string): Promise<RunRecord | undefined> {
    let r = this.records.get(runId);
    if (!r) {
      r = (async () => {
        const { runsKey, complete } = await this.listingState();
        if (complete && runsKey) {
          const vouched = this.index?.vouchedRecord(runId, this.trust, runsKey);
          if (vouched) return vouched.record as RunRecord;
        }
        if (this.index)
          return (await this.index.record(this.snapshot, runId, this.trust, () =>
            verifyRunRecord(this.snapshot, runId, this.trust, this.memo),
          )) as RunRecord;
        const files = await this.snapshot.listRunFiles(runId);
        if (!files) return undefined as unknown as RunRecord;
        return verifyRunRecord(this.snapshot, runId, this.trust, this.memo);
      })();
      this.records.set(runId, r);
    }
    return (await r) ?? undefined;
  }

  /**
   * A run a command is asked to decide or show: exit 2 when there is no such run, exit 1 (naming
   * its path and every problem) when the record is damaged.
   */
  async require(runId: string): Promise<LoadedRecord> {
    const r = await this.find(runId);
    if (!r) throw new UsageError("no-such-run", `run ${runId} is not in ${this.uri}; see \`track-run log\``);
    if (r.trust === "damaged" || !r.manifest)
      throw new CheckFailedError("damaged-record", `the record of run ${runId} is damaged (${r.where})`, {
        details: r.problems,
      });
    return r as LoadedRecord;
  }

  /** A git: runs/ tree against the index's last complete listing, once per reader. */
  private listingState(): Promise<{ runsKey?: string; complete: boolean }> {
    this.state ??= (async () => {
      const runsKey = this.index ? await this.snapshot.runsKey?.() : undefined;
      const complete = Boolean(runsKey && this.index?.isComplete(runsKey, this.trust));
      return { ...(runsKey ? { runsKey } : {}), complete };
    })();
    return this.state;
  }

  /**
   * Every run of the ledger by its columns (model, commit, trust, reproduction, promotion copies), in
   * run id order (run-listing.ts): from the local index for each run folder unchanged since it was
   * verified (one stat per run on a dir: ledger, the tree oid on git:), every other run verified now
   * (damaged ones included, marked). What a command picks from here it reads whole with find()
   * before it shows or decides on it.
   */
  listing(): Promise<RunListing> {
    this.list ??= (async () => {
      // A git: runs/ tree the index last listed whole: the rows it confirmed are the listing.
      const { runsKey, complete } = await this.listingState();
      const whole = runsKey && complete ? this.index?.confirmedRuns(this.trust, runsKey) : undefined;
      if (whole)
        return this.indexed(
          whole.ids,
          new Uint8Array(whole.ids.length).fill(1),
          whole.folders,
          new Map(),
          whole.version,
        );
      const grown = runsKey ? await this.extendedListing(runsKey) : undefined;
      if (grown) return grown;
      const ids = await this.snapshot.listRuns();
      // A dir: ledger's questions are asked of the index (its folder keys compared as numbers).
      if (this.index && this.snapshot.runFolderStats && !runsKey) {
        const indexed = await this.indexedListing(ids, await this.snapshot.runFolderStats(ids));
        if (indexed) return indexed;
      }
      // Otherwise each run folder's key against its row (the tree oid on git:, or one stat each).
      const folders =
        this.index && this.snapshot.runFolderKeys ? await this.snapshot.runFolderKeys(ids) : undefined;
      return new MapListing(await this.listedInMemory(ids, folders, runsKey));
    })();
    return this.list;
  }

  /** The listing answered by the index's rows of the runs found fresh, the rest verified now. */
  private async indexedListing(ids: readonly string[], stats: FolderStats): Promise<RunListing | undefined> {
    const matched = this.index!.freshRuns(ids, stats, this.trust);
    if (!matched) return undefined;
    const { fresh, version } = matched;
    const verified = await this.verifiedEntries(ids.filter((_, i) => fresh[i] !== 1));
    this.index!.flush();
    return this.indexed(ids, fresh, (i) => folderKeyAt(stats, i), verified, version);
  }

  /**
   * A listing whose runs `ids` are answered by their index rows where `fresh` (by position; each
   * row's folder key `folders`) and from `verified` otherwise, while the index stays at `version`.
   */
  private indexed(
    ids: readonly string[],
    fresh: Uint8Array,
    folders: readonly string[] | ((i: number) => string | undefined),
    verified: ReadonlyMap<string, ListingEntry>,
    version: number,
  ): RunListing {
    const folderAt = typeof folders === "function" ? folders : (i: number) => folders[i];
    return new IndexedListing(
      ids,
      fresh,
      folderAt,
      verified,
      this.index!.listingRows(this.trust),
      version,
      async () => {
        const keys = new Map<string, string>();
        for (const [i, id] of ids.entries()) {
          const key = folderAt(i);
          if (key) keys.set(id, key);
        }
        return new MapListing(await this.listedInMemory(ids, keys));
      },
    );
  }

  /** Every run's entry in memory: the index's rows whose folder key matches, every other run verified now. */
  private async listedInMemory(
    ids: readonly string[],
    folders: ReadonlyMap<string, string> | undefined,
    runsKey?: string,
  ): Promise<Map<string, ListingEntry>> {
    const fresh = folders ? this.index!.fresh(folders, this.trust) : new Map<string, ListingEntry>();
    const verified = await this.verifiedEntries(ids.filter((id) => !fresh.has(id)));
    // Every run fresh (the usual case): the index's rows are the listing as they came.
    let out = verified.size ? undefined : sameOrder(ids, fresh);
    if (!out) {
      out = new Map<string, ListingEntry>();
      for (const id of ids) {
        const e = fresh.get(id) ?? verified.get(id);
        if (e) out.set(id, e);
      }
    }
    if (runsKey && folders)
      this.index?.completeListing(
        runsKey,
        this.trust,
        new Map([...out.keys()].flatMap((id) => (folders.has(id) ? [[id, folders.get(id)!] as const] : []))),
      );
    this.index?.flush();
    return out;
  }

  /** These runs verified now, as listing entries (a run whose folder is gone is left out). */
  private async verifiedEntries(ids: readonly string[]): Promise<Map<string, ListingEntry>> {
    const verified = new Map<string, ListingEntry>();
    // A bounded number at a time: reads are local (a folder, or the fetched cache repository).
    for (let i = 0; i < ids.length; i += 64) {
      const batch = await Promise.all(ids.slice(i, i + 64).map((id) => this.find(id)));
      for (const r of batch) if (r) verified.set(r.runId, listingEntry(r));
    }
    return verified;
  }

  /**
   * A git: listing made from the index's last complete listing (of an earlier runs/ tree) and the
   * run folders the two trees differ in, each changed run taken from its row or verified: what
   * another writer's commit costs the next reader is the runs it changed, not the ledger's size.
   * Undefined when there is no such listing or the earlier tree is not in the cache repository.
   */
  private async extendedListing(runsKey: string): Promise<RunListing | undefined> {
    const last = this.index?.lastListing(this.trust);
    if (!last || last === runsKey || !this.snapshot.runsChangedSince) return undefined;
    const changes = await this.snapshot.runsChangedSince(last);
    const base = changes && this.index!.confirmedRuns(this.trust, last, changes);
    if (!changes || !base) return undefined;
    const present = new Map([...changes].flatMap(([id, f]) => (f ? [[id, f] as const] : [])));
    const fresh = this.index!.fresh(present, this.trust, { only: true });
    const verified = await this.verifiedEntries([...present.keys()].filter((id) => !fresh.has(id)));
    // The runs unchanged and the runs changed, in run id order (a merge of two sorted lists).
    const changed = [...present.keys()].sort();
    const ids: string[] = [];
    const folders: string[] = [];
    const matched: number[] = [];
    for (let i = 0, j = 0; i < base.ids.length || j < changed.length; ) {
      if (j >= changed.length || (i < base.ids.length && base.ids[i]! < changed[j]!)) {
        ids.push(base.ids[i]!);
        folders.push(base.folders[i]!);
        matched.push(1);
        i++;
      } else {
        const id = changed[j++]!;
        if (!fresh.has(id) && !verified.has(id)) continue;
        ids.push(id);
        folders.push(present.get(id)!);
        matched.push(fresh.has(id) ? 1 : 0);
      }
    }
    this.index!.extendListing(last, runsKey, this.trust, changes);
    this.index!.flush();
    return this.indexed(ids, Uint8Array.from(matched), folders, verified, base.version);
  }

  /**
   * Every run of the ledger as a listing holds it (listing.ts: the signed manifest without host
   * facts, command line and curve steps), for listings, queries and the lineage graph.
   */
  runs(): Promise<ListedRun[]> {
    this.all ??= (async () => this.listed((await this.listing()).ids))();
    return this.all;
  }

  /** These runs (of listing()) as a listing holds them, in the order given. */
  async listed(runIds: readonly string[]): Promise<ListedRun[]> {
    const listing = await this.listing();
    const folders = new Map<string, string>();
    for (const id of runIds) {
      const folder = listing.folderOf(id);
      if (folder !== undefined && !this.records.has(id)) folders.set(id, folder);
    }
    const fromIndex = this.index?.listed(folders, this.trust);
    const out: ListedRun[] = [];
    for (const id of runIds) {
      const listed = fromIndex?.get(id);
      if (listed) out.push(listed);
      else {
        const r = await this.find(id);
        if (r) out.push(listedRun(r));
      }
    }
    this.index?.flush();
    return out;
  }

  /**
   * A run a listing gave, read whole now: undefined when it is still the record the listing holds;
   * else why it is not (damaged, gone, or another record since the index listed it).
   */
  async changedSince(listed: RunRecord): Promise<string | undefined> {
    const whole = await this.find(listed.runId);
    if (!whole) return `run ${listed.runId} is gone from ${this.uri}`;
    if (whole.trust === "damaged")
      return `run ${listed.runId} is damaged (${whole.where}): ${whole.problems.join("; ")}`;
    if (whole.trust !== listed.trust || whole.manifestDigest !== listed.manifestDigest)
      return `run ${listed.runId} (${whole.where}) changed since the index listed it: it is ${whole.trust} now${whole.problems.length ? ` (${whole.problems.join("; ")})` : ""}`;
    return undefined;
  }

  /**
   * The runs whose outputs (or a folder of them) may have one of these payload identities: by the
   * index's links where there is one (a superset: the caller matches each run's outputs), else every run.
   */
  async producersOf(identities: readonly string[]): Promise<ListedRun[]> {
    if (!this.index) return this.runs();
    const listing = await this.listing();
    let ids: Set<string>;
    try {
      ids = new Set(this.index.linksTo(identities.map(dataNode), "out").map((l) => l.run));
    } catch {
      return this.runs();
    }
    return this.listed(listing.ids.filter((id) => ids.has(id)));
  }

  /**
   * The runs a query may return, narrowed by the index (a superset: the query still runs on each
   * record): by its filters, and, when they pick exactly and the query takes the first `limit` by a
   * key, to the runs that can be among those. Every run without an index or anything to narrow by.
   */
  async queryCandidates(
    filters: readonly Filter[],
    o: { sort?: SortKey; limit?: number; whole?: boolean } = {},
  ): Promise<ListedRun[]> {
    let ids = (await this.listing()).ids;
    const narrowed = this.index?.candidates(filters.map(indexFilter));
    if (narrowed) ids = ids.filter((id) => narrowed.ids.has(id));
    // `whole`: nothing but the filters decides (no time window, no lineage, no groups).
    const exact = filters.length === 0 || narrowed?.exact === true;
    if (this.index && o.whole && o.sort && o.limit !== undefined && exact) {
      const key = indexKey(o.sort.key);
      const top = key && this.index.topBy(key, o.sort.descending, o.limit, new Set(ids));
      if (top) ids = ids.filter((id) => top.has(id));
    }
    return this.listed(ids);
  }

  /** The model's verified promotion history and production (exit 1 naming the file when broken). */
  production(model: string): Promise<ProductionChain> {
    let c = this.chains.get(model);
    if (!c) {
      c = (async () => {
        const chain = await verifyChain(this.snapshot, model, this.trust, this.memo);
        // The chain against evidence it does not hold: copies beside promoted runs, this machine's anchor.
        checkPromotionCopies(
          this.snapshot,
          model,
          chain,
          await (await this.listing()).where({ withCopies: true }),
        );
        this.anchors()?.check(this.snapshot, model, chain);
        return chain;
      })();
      this.chains.set(model, c);
    }
    return c;
  }

  /**
   * The production run's record, authenticated by the chain: the promotion record names its manifest
   * digest, so even a run recorded unsigned (under a policy with signed: false) is the one promoted.
   */
  async productionRun(model: string): Promise<RunRecord | undefined> {
    const head = (await this.production(model)).head;
    if (!head) return undefined;
    return this.promotedRun(model, head.pointer.runId, head.pointer.manifestDigest);
  }

  /** A promoted run, checked against the digest its promotion record signed. */
  async promotedRun(model: string, runId: string, manifestDigest: string): Promise<RunRecord> {
    const r = await this.find(runId);
    const where = this.snapshot.describe(`runs/${runId}`);
    if (!r?.manifest || r.trust === "damaged")
      throw new CheckFailedError(
        "damaged-record",
        `run ${runId}, promoted to production of ${model}, ${r ? `has a damaged record (${where})` : `is missing from the ledger (${where})`}`,
        { details: r?.problems ?? [] },
      );
    if (r.manifestDigest !== manifestDigest)
      throw new CheckFailedError(
        "damaged-record",
        `run ${runId} in ${where} is not the run promoted to production of ${model}: its signed manifest is ${r.manifestDigest}, the promotion record says ${manifestDigest}`,
      );
    return r;
  }

  /**
   * What a reproduction needs of a recorded run: its verified bundle and its bags' payload
   * manifests (each checked against its signed digest), by data name.
   */
  async forReproduction(
    runId: string,
  ): Promise<{ bundle: unknown; payloadManifests: Record<string, string> }> {
    const record = await this.requireDocument(runId);
    return { bundle: record.document, payloadManifests: await this.payloadManifests(record.manifest) };
  }

  /** A run as require() gives it, with its stored bundle (the index keeps none: then read and verified again). */
  async requireDocument(runId: string): Promise<LoadedRecord> {
    const record = await this.require(runId);
    if (record.document !== undefined) return record;
    const fresh = await verifyRunRecord(this.snapshot, runId, this.trust, this.memo);
    if (fresh.trust === "damaged" || !fresh.manifest)
      throw new CheckFailedError("damaged-record", `the record of run ${runId} is damaged (${fresh.where})`, {
        details: fresh.problems,
      });
    return fresh as LoadedRecord;
  }

  /**
   * The bags' payload manifests stored beside a run, by data name: each one that matches the digest
   * its signed manifest holds (data[].payloadManifest); others are left out.
   */
  async payloadManifests(manifest: RunManifest): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const d of manifest.data) {
      if (d.payloadManifest === undefined) continue;
      const body = await this.snapshot
        .readRunFile(manifest.runId, `data-${d.name}.manifest-sha256.txt`)
        .catch(() => undefined);
      if (body && sha256Hex(body) === d.payloadManifest) out[d.name] = body.toString("utf8");
    }
    return out;
  }

  /**
   * The lineage around what `ref` (a run id or digest) or `roots` (node ids) names, in `direction`:
   * from the index's links when it can answer (walk.ts), else the whole ledger's graph. `roots` are
   * what `ref` resolves to (graph.ts resolveNodes: exit 2 for what is neither a run nor a digest).
   */
  async lineageFor(
    ref: string | readonly NodeId[],
    direction: Direction,
  ): Promise<{ graph: LineageGraph; roots: NodeId[]; notes: string[] }> {
    const near = this.index ? await lineageNear(this, this.index, ref, direction) : undefined;
    if (near) return near;
    const { graph, notes } = await this.lineage();
    return { graph, notes, roots: typeof ref === "string" ? resolveNodes(graph, ref) : [...ref] };
  }

  /** The whole ledger's lineage graph, built once per reader. */
  lineage(): Promise<{ graph: LineageGraph; notes: string[] }> {
    this.graph ??= readLineage(this);
    return this.graph;
  }

  /**
   * The invalidation records (each verified once, uncounted ones kept and marked), what stands, and
   * every run, output, bag and promotion derived from what stands.
   */
  invalidations(): Promise<Invalidations> {
    this.invalid ??= (async () => {
      const inv = await readInvalidations(this, this.memo);
      // A counting record this machine saw cannot silently disappear.
      this.anchors()?.checkInvalidations(
        this.snapshot,
        inv.records.filter((r) => r.counts).map((r) => r.name),
      );
      return inv;
    })();
    return this.invalid;
  }

  /** This machine's anchors of the ledger, beside its index (none without an index). */
  private anchors(): ProductionAnchors | undefined {
    return this.index
      ? new ProductionAnchors(this.index.path.replace(/\.sqlite$/, ".anchors.json"))
      : undefined;
  }

  /** The verified reproductions of a run: only signed, trusted records naming its signed manifest count. */
  async reproductionsOf(run: RunRecord): Promise<Reproduction[]> {
    const out: Reproduction[] = [];
    for (const e of await (await this.listing()).where({ reproductionOf: run.runId })) {
      // Read whole: a reproduction counts for the gate's reproduced rule.
      const r = await this.find(e.runId);
      const claim = r?.reproduction;
      if (!r || !claim || claim.of !== run.runId || !r.manifest) continue;
      const counts =
        r.trust === "verified" &&
        claim.trust === "verified" &&
        run.manifestDigest !== undefined &&
        claim.ofManifestDigest === run.manifestDigest;
      out.push({
        runId: r.runId,
        ...(claim.verdict ? { verdict: claim.verdict } : {}),
        finishedAt: r.manifest.timing.finishedAt,
        trust: r.trust === "verified" ? claim.trust : r.trust,
        counts,
      });
    }
    return out;
  }
}
