// `git:REMOTE#BRANCH`: the ledger as a branch of a git repository (default track-run-ledger of the
// same repository), kept in a bare cache repository (never a work tree): fetched shallow by the git
// binary where there is one (git-fetch.ts; isomorphic-git otherwise), its commits written by
// git-objects.ts and pushed over HTTPS with a token (receive-pack.ts). Every change is a commit on the tip the writer fetched; a
// rejected push (someone else wrote first) means fetch, re-apply, retry with backoff. The branch's
// history is the audit log, linear by construction.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import type { HttpClient } from "isomorphic-git";
import { CheckFailedError, UsageError } from "../errors.js";
import { CatFile, findGit, type GitObject } from "./cat-file.js";
import { gitFetch, gitFetchUsable, remoteTip } from "./git-fetch.js";
import {
  commitBody,
  commitTree,
  diffTrees,
  type Entry,
  type EntryChange,
  findEntry,
  type NewObject,
  objectId,
  packOf,
  parseTree,
  type TreeEntry,
  treeWith,
  writeLoose,
} from "./git-objects.js";
import { fetchHttp } from "./http.js";
import { type PushOutcome, receivePack, remoteAuth } from "./receive-pack.js";
import {
  type LedgerSnapshot,
  type LedgerStore,
  type ProductionPointer,
  promotionCopyName,
  promotionFileName,
} from "./types.js";

type Git = typeof import("isomorphic-git");
type Http = HttpClient;

export interface GitLedgerOptions {
  /** Where the bare cache repository lives (one per remote and branch). */
  cacheDir: string;
  /** HTTPS token (the workflow's GITHUB_TOKEN); sent as x-access-token basic auth. */
  token?: string;
  author?: { name: string; email: string };
  retries?: number;
  /** The git binary that fetches and reads the cache repository (default: git on PATH); null: isomorphic-git does. */
  gitBinary?: string | null;
}

interface Change {
  path: string;
  body: string | Uint8Array;
}

class Conflict extends Error {}

/** Reads an object of the cache repository, which must be of this type (its bytes). */
type ObjectReader = (oid: string, type: "blob" | "tree" | "commit") => Promise<Buffer>;

/** The tip a write is planned on: paths looked up in the trees' bytes, each tree read once. */
class TipView {
  private readonly trees = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly object: ObjectReader,
    readonly tip: string | undefined,
  ) {}

  tree(oid: string): Promise<Buffer> {
    let t = this.trees.get(oid);
    if (!t) {
      t = this.object(oid, "tree");
      this.trees.set(oid, t);
    }
    return t;
  }

  async rootTree(): Promise<string | undefined> {
    return this.tip ? commitTree(await this.object(this.tip, "commit")) : undefined;
  }

  /** The entry at a path of the tip (a file or a folder), or undefined. */
  async entry(path: string): Promise<Entry | undefined> {
    let oid = await this.rootTree();
    let found: Entry | undefined;
    for (const part of path.split("/")) {
      if (!oid) return undefined;
      found = findEntry(await this.tree(oid), part);
      oid = found?.mode === "40000" ? found.oid : undefined;
    }
    return found;
  }
}

export class GitLedger implements LedgerStore {
  readonly uri: string;
  private readonly gitdir: string;
  private mods?: { git: Git; http: Http };
  /** The git binary's reader of the cache repository (null: there is no binary). */
  private cat?: CatFile | null;
  /** isomorphic-git's cache (pack indexes), where it reads. */
  private readonly isoCache = {};

  constructor(
    private readonly url: string,
    private readonly branch: string,
    private readonly o: GitLedgerOptions,
  ) {
    this.uri = `git:${remoteAuth(url).url}#${branch}`;
    this.gitdir = join(
      o.cacheDir,
      "ledger-git",
      createHash("sha256").update(`${url}#${branch}`).digest("hex").slice(0, 24),
    );
  }

  get identity(): string {
    return this.uri;
  }

  private async lib(): Promise<{ git: Git; http: Http }> {
    if (!this.mods) {
      const git = (await import("isomorphic-git")) as Git & { default?: Git };
      this.mods = { git: git.default ?? git, http: fetchHttp };
      if (!fs.existsSync(join(this.gitdir, "HEAD"))) {
        fs.mkdirSync(this.gitdir, { recursive: true });
        await this.mods.git.init({ fs, gitdir: this.gitdir, bare: true, defaultBranch: this.branch });
        await this.mods.git.addRemote({
          fs,
          gitdir: this.gitdir,
          remote: "origin",
          // Without credentials: the cache repository's config never holds a password.
          url: remoteAuth(this.url).url,
          force: true,
        });
      }
    }
    return this.mods;
  }

  /** The branch on origin, with the token (as basic auth, never in the URL) when there is one. */
  private remote(http: Http) {
    return {
      fs,
      http,
      gitdir: this.gitdir,
      remote: "origin",
      url: this.url,
      ref: this.branch,
      remoteRef: this.branch,
      ...(this.o.token ? { onAuth: () => ({ username: "x-access-token", password: this.o.token! }) } : {}),
    };
  }

  /** Fetches the branch; its tip, or undefined when the branch does not exist yet. */
  private async fetchTip(): Promise<string | undefined> {
    await this.lib();
    const bin = this.gitBinary();
    let found: boolean;
    try {
      found = bin && gitFetchUsable(bin) ? await this.fetchByGit(bin) : await this.fetchByIsomorphicGit();
    } catch (e) {
      throw new UsageError(
        "ledger-unreachable",
        `ledger ${this.uri} cannot be fetched: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    return found ? this.fetched() : undefined;
  }

  /** The tip last fetched (refs/remotes/origin/BRANCH), if any. */
  private async fetched(): Promise<string | undefined> {
    const { git } = await this.lib();
    return git
      .resolveRef({ fs, gitdir: this.gitdir, ref: `refs/remotes/origin/${this.branch}` })
      .catch(() => undefined);
  }

  /**
   * The git binary's fetch (git-fetch.ts): the remote's tip asked first, in this process, and git
   * started only when the branch moved. False when the remote has no such branch.
   */
  private async fetchByGit(bin: string): Promise<boolean> {
    const { http } = await this.lib();
    const remote = await remoteTip({
      http,
      url: this.url,
      branch: this.branch,
      ...(this.o.token ? { token: this.o.token } : {}),
    });
    if (!remote.tip) return false;
    if ((await this.fetched()) === remote.tip) return true;
    const { authorization } = remoteAuth(this.url, this.o.token);
    const fetched = await gitFetch({
      git: bin,
      gitdir: this.gitdir,
      url: remote.url,
      branch: this.branch,
      ...(authorization ? { authorization } : {}),
    });
    return fetched === "fetched";
  }

  /** isomorphic-git's fetch, where there is no usable git binary. False when the remote has no such branch. */
  private async fetchByIsomorphicGit(): Promise<boolean> {
    const { git, http } = await this.lib();
    // The fetch tells the remote what this cache holds by the local ref the branch name expands to:
    // refs/heads/BRANCH for a writer, else refs/remotes/BRANCH, kept at the last fetched tip (never
    // refs/heads, which a writer pushes from) so that a fetch brings only what changed.
    const last = await this.fetched();
    if (last)
      await git
        .writeRef({ fs, gitdir: this.gitdir, ref: `refs/remotes/${this.branch}`, value: last, force: true })
        .catch(() => undefined);
    try {
      // Shallow: a reader needs the tip's tree only, never the ledger's history.
      await git.fetch({ ...this.remote(http), singleBranch: true, tags: false, depth: 1 });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "NotFoundError" || /Could not find|couldn't find remote ref/i.test((e as Error).message))
        return false;
      throw e;
    }
    return true;
  }

  /**
   * An object of the cache repository, which must be of this type: read by the git binary where
   * there is one, else by isomorphic-git (its pack indexes kept across reads in `isoCache`).
   */
  private readonly object: ObjectReader = async (oid, type) => {
    const cat = this.catFile();
    let o: GitObject;
    if (cat) o = await cat.read(oid);
    else {
      const { git } = await this.lib();
      const r = await git.readObject({
        fs,
        gitdir: this.gitdir,
        oid,
        format: "content",
        cache: this.isoCache,
      });
      o = { type: r.type, body: Buffer.from(r.object as Uint8Array) };
    }
    if (o.type !== type) throw new Error(`object ${oid} is a ${o.type}, not a ${type}`);
    return o.body;
  };

  /** The git binary's reader of the cache repository (one per ledger), or none without a binary. */
  private catFile(): CatFile | undefined {
    if (this.cat === undefined) {
      const bin = this.gitBinary();
      this.cat = bin ? new CatFile(bin, this.gitdir) : null;
    }
    return this.cat ?? undefined;
  }

  /** The git binary that fetches and reads the cache repository, or null (isomorphic-git does). */
  private gitBinary(): string | null {
    return this.o.gitBinary === undefined ? findGit() : this.o.gitBinary;
  }

  /**
   * The new root tree: the tip's with `changes` written in (folders made as needed). Every object it
   * adds goes to `out`, a changed tree with the tree it replaces (a delta's base when pushed).
   */
  private async tree(view: TipView, changes: readonly Change[], out: NewObject[]): Promise<string> {
    type Node = { files: Map<string, Buffer>; dirs: Map<string, Node> };
    const root: Node = { files: new Map(), dirs: new Map() };
    for (const c of changes) {
      const parts = c.path.split("/");
      let node = root;
      for (const dir of parts.slice(0, -1)) {
        let next = node.dirs.get(dir);
        if (!next) {
          next = { files: new Map(), dirs: new Map() };
          node.dirs.set(dir, next);
        }
        node = next;
      }
      node.files.set(parts[parts.length - 1]!, Buffer.from(c.body));
    }
    const write = async (node: Node, baseOid: string | undefined): Promise<string> => {
      const base = baseOid ? await view.tree(baseOid) : undefined;
      const set = new Map<string, Entry>();
      for (const [name, body] of node.files) {
        const oid = objectId("blob", body);
        out.push({ type: "blob", oid, body });
        set.set(name, { mode: "100644", oid });
      }
      for (const [name, child] of node.dirs) {
        const existing = base ? findEntry(base, name) : undefined;
        const oid = await write(child, existing?.mode === "40000" ? existing.oid : undefined);
        set.set(name, { mode: "40000", oid });
      }
      const { body, delta } = treeWith(base, set);
      const oid = objectId("tree", body);
      if (oid !== baseOid)
        out.push({ type: "tree", oid, body, ...(baseOid ? { delta: { base: baseOid, data: delta } } : {}) });
      return oid;
    };
    return write(root, await view.rootTree());
  }

  /**
   * The compare-and-swap loop: `plan(tip)` reads the current tip and returns the change to make (or
   * throws Conflict when the change no longer applies); the commit goes on that tip; a rejected push
   * starts over from a fresh fetch, with backoff.
   */
  private async update(message: string, plan: (tip: TipView) => Promise<Change[]>): Promise<void> {
    const { git, http } = await this.lib();
    const retries = this.o.retries ?? 8;
    let delay = 50 + Math.random() * 50;
    for (let attempt = 0; ; attempt++) {
      const tip = await this.fetchTip();
      const view = new TipView(this.object, tip);
      const changes = await plan(view);
      // Every object the commit adds, and nothing else: the pack pushed.
      const objects: NewObject[] = [];
      let tree: string;
      try {
        tree = await this.tree(view, changes, objects);
      } catch (e) {
        // A folder of the tip no git would write (out of order, a name twice, a file where a folder is).
        throw new CheckFailedError(
          "damaged-ledger",
          `ledger ${this.uri}: ${(e as Error).message}, so nothing was written; restore the branch from its history`,
          { cause: e },
        );
      }
      const body = commitBody({
        tree,
        ...(tip ? { parent: tip } : {}),
        author: this.o.author ?? { name: "track-run", email: "track-run@users.noreply.github.com" },
        seconds: Math.floor(Date.now() / 1000),
        message: `${message}\n`,
      });
      const commit = objectId("commit", body);
      objects.push({ type: "commit", oid: commit, body });
      const unique = [...new Map(objects.map((o) => [o.oid, o])).values()];
      for (const o of unique) writeLoose(this.gitdir, o);
      await git.writeRef({
        fs,
        gitdir: this.gitdir,
        ref: `refs/heads/${this.branch}`,
        value: commit,
        force: true,
      });
      const push = (thin: boolean) =>
        receivePack({
          http,
          url: this.url,
          branch: this.branch,
          old: tip,
          next: commit,
          packfile: packOf(unique, { thin }),
          ...(this.o.token ? { token: this.o.token } : {}),
        });
      let pushed: PushOutcome;
      try {
        // Trees go as deltas against the ones in the tip; a remote that no longer holds them (the
        // branch rewritten and collected meanwhile) is sent the objects whole.
        pushed = await push(true).catch((e: Error) => {
          if (/did not take the pack/.test(e.message)) return push(false);
          throw e;
        });
      } catch (e) {
        throw new UsageError(
          "ledger-push-failed",
          `pushing to ledger ${this.uri} failed: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
      if (pushed.ok) {
        await git.writeRef({
          fs,
          gitdir: this.gitdir,
          ref: `refs/remotes/origin/${this.branch}`,
          value: commit,
          force: true,
        });
        return;
      }
      if (/hook|declined|protected|denied|permission/i.test(pushed.reason))
        throw new UsageError(
          "ledger-push-failed",
          `pushing to ledger ${this.uri} was refused: ${pushed.reason}`,
        );
      if (attempt >= retries)
        throw new UsageError(
          "ledger-busy",
          `ledger ${this.uri}: ${retries + 1} pushes were rejected (others kept writing first); try again`,
        );
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000) * (0.5 + Math.random());
    }
  }

  async ready(): Promise<void> {
    await this.fetchTip();
  }

  async snapshot(): Promise<LedgerSnapshot> {
    const tip = await this.fetchTip();
    await this.lib();
    return new GitSnapshot(this.uri, this.object, tip);
  }

  async putRun(runId: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string> {
    await this.update(`record run ${runId}`, async (tip) => {
      if (await tip.entry(`runs/${runId}`))
        throw new UsageError("run-exists", `run ${runId} is already recorded in ${this.uri}`);
      return Object.entries(files).map(([name, body]) => ({ path: `runs/${runId}/${name}`, body }));
    });
    return `${this.uri}/runs/${runId}`;
  }

  async putFolderFile(folder: string, name: string, body: string | Uint8Array): Promise<boolean> {
    try {
      await this.update(`add ${folder}/${name}`, async (tip) => {
        if (await tip.entry(`${folder}/${name}`)) throw new Conflict();
        return [{ path: `${folder}/${name}`, body }];
      });
      return true;
    } catch (e) {
      if (e instanceof Conflict) return false;
      throw e;
    }
  }

  async putRunFile(runId: string, name: string, body: string | Uint8Array): Promise<void> {
    await this.update(`add ${name} to run ${runId}`, async () => [{ path: `runs/${runId}/${name}`, body }]);
  }

  async appendPromotion(model: string, pointer: ProductionPointer, record: string): Promise<boolean> {
    const file = `models/${model}/promotions/${promotionFileName(pointer.seq)}`;
    try {
      // The record and the cache in one commit; the push is the commit point.
      await this.update(`${pointer.kind} ${model} #${pointer.seq}: ${pointer.runId}`, async (tip) => {
        if (await tip.entry(file)) throw new Conflict();
        return [
          { path: file, body: record },
          { path: `models/${model}/production.json`, body: `${JSON.stringify(pointer, null, 2)}\n` },
          { path: `runs/${pointer.runId}/${promotionCopyName(model, pointer.seq)}`, body: record },
        ];
      });
      return true;
    } catch (e) {
      if (e instanceof Conflict) return false;
      throw e;
    }
  }

  /** Nothing to repair: a commit lands whole or not at all. */
  async repair(): Promise<void> {}
}

/** The ledger at one fetched tip, read from the local cache repository (no more network). */
class GitSnapshot implements LedgerSnapshot {
  private readonly trees = new Map<string, Promise<TreeEntry[]>>();
  private readonly byName = new Map<string, Map<string, TreeEntry>>();
  private rootTree?: Promise<string | undefined>;

  constructor(
    readonly uri: string,
    /** The cache repository's objects (GitLedger's reader: the git binary, or isomorphic-git). */
    private readonly object: ObjectReader,
    private readonly tip: string | undefined,
  ) {}

  private tree(oid: string): Promise<TreeEntry[]> {
    let t = this.trees.get(oid);
    if (!t) {
      t = this.object(oid, "tree").then(parseTree);
      this.trees.set(oid, t);
    }
    return t;
  }

  /** A tree's entries by name (the runs/ folder of a large ledger has thousands). */
  private async named(oid: string): Promise<Map<string, TreeEntry>> {
    let m = this.byName.get(oid);
    if (!m) {
      m = new Map();
      // A name twice (a tree no git would write) means its first entry, as git reads it.
      for (const e of await this.tree(oid)) if (!m.has(e.path)) m.set(e.path, e);
      this.byName.set(oid, m);
    }
    return m;
  }

  /** The entry at a path of the tip's tree (folders walked one by one, each tree read once). */
  private async entry(path: string): Promise<TreeEntry | undefined> {
    if (!this.tip) return undefined;
    this.rootTree ??= this.object(this.tip, "commit").then(commitTree);
    let oid = await this.rootTree;
    let found: TreeEntry | undefined;
    for (const part of path.split("/")) {
      if (!oid) return undefined;
      found = (await this.named(oid)).get(part);
      oid = found?.type === "tree" ? found.oid : undefined;
    }
    return found;
  }

  private async list(path: string): Promise<TreeEntry[] | undefined> {
    const e = await this.entry(path);
    return e?.type === "tree" ? this.tree(e.oid) : undefined;
  }

  private async read(path: string): Promise<Buffer | undefined> {
    const e = await this.entry(path);
    if (e?.type !== "blob") return undefined;
    return this.object(e.oid, "blob");
  }

  /**
   * The run folders of runs/ by name: a name written twice (a tree no git would write) is its first
   * entry, as every path lookup (named) reads it.
   */
  private async runFolders(): Promise<TreeEntry[]> {
    const runs = await this.entry("runs");
    if (runs?.type !== "tree") return [];
    return [...(await this.named(runs.oid)).values()].filter(
      (e) => e.type === "tree" && !e.path.startsWith("."),
    );
  }

  async listRuns(): Promise<string[]> {
    return (await this.runFolders()).map((e) => e.path).sort();
  }

  async listRunFiles(runId: string): Promise<string[] | undefined> {
    return (await this.list(`runs/${runId}`))?.map((e) => e.path).sort();
  }

  /** The run folder's tree oid: a hash of everything in it. */
  async runKey(runId: string): Promise<string | undefined> {
    const e = await this.entry(`runs/${runId}`);
    return e?.type === "tree" ? `tree:${e.oid}` : undefined;
  }

  /** The runs/ tree's oid: the same oid means the same runs, byte for byte. */
  async runsKey(): Promise<string | undefined> {
    const e = await this.entry("runs");
    return e?.type === "tree" ? `tree:${e.oid}` : undefined;
  }

  /** On git the tree oid is both keys: any change of content changes it. */
  runFolderKey(runId: string): Promise<string | undefined> {
    return this.runKey(runId);
  }

  async runFolderKeys(_runIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const e of await this.runFolders()) out.set(e.path, `tree:${e.oid}`);
    return out;
  }

  async runsChangedSince(runsKey: string): Promise<Map<string, string | undefined> | undefined> {
    const now = await this.entry("runs");
    if (!runsKey.startsWith("tree:") || now?.type !== "tree") return undefined;
    let changes: EntryChange[];
    try {
      const [before, after] = await Promise.all([
        this.object(runsKey.slice(5), "tree"),
        this.object(now.oid, "tree"),
      ]);
      changes = diffTrees(before, after);
    } catch {
      // The earlier tree is not in the cache repository (a fresh clone), or either is not a tree git
      // would write (out of order, a name twice): every folder's key is compared instead.
      return undefined;
    }
    const out = new Map<string, string | undefined>();
    for (const c of changes) {
      if (c.name.startsWith(".")) continue;
      const folder = c.after?.mode === "40000" ? `tree:${c.after.oid}` : undefined;
      if (folder || c.before?.mode === "40000") out.set(c.name, folder);
    }
    return out;
  }

  readRunFile(runId: string, name: string): Promise<Buffer | undefined> {
    return this.read(`runs/${runId}/${name}`);
  }

  async listPromotionFiles(model: string): Promise<string[]> {
    for (const path of ["models", `models/${model}`, `models/${model}/promotions`]) {
      const e = await this.entry(path);
      if (!e) return [];
      if (e.type !== "tree") throw new Error(`${this.describe(path)} is not a folder`);
    }
    return ((await this.list(`models/${model}/promotions`)) ?? []).map((e) => e.path).sort();
  }

  readModelFile(model: string, path: string): Promise<Buffer | undefined> {
    return this.read(`models/${model}/${path}`);
  }

  async listModels(): Promise<string[]> {
    return ((await this.list("models")) ?? [])
      .filter((e) => e.type === "tree")
      .map((e) => e.path)
      .sort();
  }

  async listFolder(folder: string): Promise<string[]> {
    return ((await this.list(folder)) ?? [])
      .filter((e) => !e.path.startsWith("."))
      .map((e) => e.path)
      .sort();
  }

  readFolderFile(folder: string, name: string): Promise<Buffer | undefined> {
    return this.read(`${folder}/${name}`);
  }

  describe(path: string): string {
    return `${this.uri}:${path}`;
  }
}

/** git:URL#BRANCH (BRANCH defaults to track-run-ledger). */
export function parseGitLedgerUri(uri: string): { url: string; branch: string } {
  const rest = uri.slice("git:".length);
  const hash = rest.lastIndexOf("#");
  const url = hash >= 0 ? rest.slice(0, hash) : rest;
  const branch = hash >= 0 ? rest.slice(hash + 1) : "track-run-ledger";
  if (!/^https?:\/\//.test(url) || !branch) {
    throw new UsageError("bad-ledger", `ledger "${uri}" must be git:https://HOST/OWNER/REPO.git#BRANCH`);
  }
  // A branch name git takes (git check-ref-format), and never an option or a refspec of its own.
  // Per component: none empty, none starting with "." or ending with "." or ".lock"; no leading "-".
  if (
    !/^[A-Za-z0-9._/-]+$/.test(branch) ||
    branch.startsWith("-") ||
    branch.split("/").some((c) => !c || c.startsWith(".") || c.endsWith(".") || c.endsWith(".lock")) ||
    branch.includes("..")
  )
    throw new UsageError(
      "bad-ledger",
      `ledger "${uri}": "${branch}" is not a branch name git takes; use letters, digits, ".", "_", "-" and "/" (e.g. #track-run-ledger)`,
    );
  return { url, branch };
}
