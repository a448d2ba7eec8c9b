// `dir:PATH` (default locally, .track-run/ledger): runs/<run-id>/… appear whole or not at all (a
// folder renamed into place); a promotion's commit point is one hard link that fails when the
// record's number is taken (models/<model>/promotions/NNNNNN.sigstore.json), so two writers can never
// both write promotion N. production.json is a cache of the chain's head, rewritten after the link.
// Writes never follow links: every folder on the way is checked to be a real folder, and every file
// is created exclusively before it is renamed or linked into place.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { dirname, join, resolve } from "node:path";
import { CheckFailedError, fsInputError, UsageError } from "../errors.js";
import { processAlive } from "../util/files.js";
import { folderStatKey, statKey } from "./run-index.js";
import {
  type FolderStats,
  type LedgerSnapshot,
  type LedgerStore,
  type ProductionPointer,
  promotionCopyName,
  promotionFileName,
} from "./types.js";

/** Largest record file read from a ledger (a log may be large; nothing else is). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** A file of the ledger that is not a plain file (a link, a FIFO, a device) or is too large: never read. */
export class UnreadableRecordFile extends Error {}

/** Reads a plain file without following a link and without blocking on a FIFO; undefined when missing. */
function readPlain(path: string): Buffer | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new UnreadableRecordFile(`${path} cannot be read: ${(e as Error).message}`);
  }
  if (st.isSymbolicLink()) throw new UnreadableRecordFile(`${path} is a symbolic link, not a file`);
  if (!st.isFile()) throw new UnreadableRecordFile(`${path} is not a plain file`);
  if (st.size > MAX_FILE_BYTES)
    throw new UnreadableRecordFile(`${path} is larger than ${MAX_FILE_BYTES} bytes`);
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    // What was opened, not what was looked at: a file swapped in between is checked again.
    const opened = fs.fstatSync(fd);
    if (!opened.isFile() || opened.size > MAX_FILE_BYTES)
      throw new UnreadableRecordFile(
        `${path} changed while it was read: not a plain file of at most ${MAX_FILE_BYTES} bytes`,
      );
    const body = Buffer.alloc(opened.size);
    let read = 0;
    while (read < body.length) {
      const n = fs.readSync(fd, body, read, body.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return body.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
}

/** Entries of a folder that is a real folder (not a link); [] when missing. */
function listPlainDir(path: string): fs.Dirent[] {
  try {
    if (!fs.lstatSync(path).isDirectory()) return [];
    return fs.readdirSync(path, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** The names in a folder that is a real folder (not a link) but hidden ones, sorted; [] when missing. */
function listPlainNames(path: string): string[] {
  let names: string[];
  try {
    if (!fs.lstatSync(path).isDirectory()) return [];
    names = fs.readdirSync(path);
  } catch {
    return [];
  }
  return names.filter((n) => !n.startsWith(".")).sort();
}

/** Leftover of a killed writer: `.<anything>-<pid>-<hex>.(partial|tmp|pending)` whose process is gone. */
const LEFTOVER = /^\..*-(\d+)-[0-9a-f]{8}\.(partial|tmp|pending)$/;
export const isDeadLeftover = (name: string): boolean => {
  const m = LEFTOVER.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  return pid <= 0 || !processAlive(pid);
};

const tmpName = (base: string, ext: "partial" | "tmp" | "pending") =>
  `.${base}-${process.pid}-${randomBytes(4).toString("hex")}.${ext}`;

class DirSnapshot implements LedgerSnapshot {
  constructor(
    readonly uri: string,
    private readonly root: string,
  ) {}

  /** runs/ is a real folder or absent: a link or a file in its place is damage, never "no runs". */
  private runsFolder(): string {
    const dir = join(this.root, "runs");
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(dir);
    } catch {
      return dir;
    }
    if (!st.isDirectory())
      throw new CheckFailedError(
        "damaged-ledger",
        `${dir} is ${st.isSymbolicLink() ? "a symbolic link" : "not a folder"}: the ledger never makes one; restore the ledger from its history`,
      );
    return dir;
  }

  async listRuns(): Promise<string[]> {
    return listPlainNames(this.runsFolder());
  }

  async listRunFiles(runId: string): Promise<string[] | undefined> {
    const dir = join(this.runsFolder(), runId);
    try {
      if (!fs.lstatSync(dir).isDirectory()) return undefined;
    } catch {
      return undefined;
    }
    return fs.readdirSync(dir).sort();
  }

  async readRunFile(runId: string, name: string): Promise<Buffer | undefined> {
    return readPlain(join(this.runsFolder(), runId, name));
  }

  /** The stat signature of the run folder's files (see run-index.ts). */
  async runKey(runId: string): Promise<string | undefined> {
    return statKey(join(this.root, "runs", runId));
  }

  async runFolderKey(runId: string): Promise<string | undefined> {
    try {
      return folderStatKey(fs.lstatSync(join(this.runsFolder(), runId)));
    } catch {
      return undefined;
    }
  }

  /** One lstat per run folder, kept as numbers. */
  async runFolderStats(runIds: readonly string[]): Promise<FolderStats> {
    const dir = `${this.runsFolder()}/`;
    const n = runIds.length;
    const out = {
      ino: new Float64Array(n).fill(Number.NaN),
      dev: new Float64Array(n),
      mode: new Float64Array(n),
      mtime: new Float64Array(n),
      ctime: new Float64Array(n),
    };
    for (let i = 0; i < n; i++) {
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(dir + runIds[i], { throwIfNoEntry: false });
      } catch {}
      if (!st?.isDirectory()) continue;
      out.ino[i] = st.ino;
      out.dev[i] = st.dev;
      out.mode[i] = st.mode;
      out.mtime[i] = st.mtimeMs;
      out.ctime[i] = st.ctimeMs;
    }
    return out;
  }

  async listPromotionFiles(model: string): Promise<string[]> {
    // A model's folders are real folders or absent: a file or a link in their place is damage.
    for (const dir of ["models", join("models", model), join("models", model, "promotions")]) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(join(this.root, dir));
      } catch {
        return [];
      }
      if (!st.isDirectory())
        throw new UnreadableRecordFile(
          `${join(this.root, dir)} is ${st.isSymbolicLink() ? "a symbolic link" : "not a folder"}`,
        );
    }
    return fs.readdirSync(join(this.root, "models", model, "promotions")).sort();
  }

  async readModelFile(model: string, path: string): Promise<Buffer | undefined> {
    return readPlain(join(this.root, "models", model, path));
  }

  async listModels(): Promise<string[]> {
    return listPlainDir(join(this.root, "models"))
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => e.name)
      .sort();
  }

  async listFolder(folder: string): Promise<string[]> {
    return listPlainNames(join(this.root, folder));
  }

  async readFolderFile(folder: string, name: string): Promise<Buffer | undefined> {
    return readPlain(join(this.root, folder, name));
  }

  describe(path: string): string {
    return join(this.root, path);
  }
}

export class DirLedger implements LedgerStore {
  readonly uri: string;
  private readonly root: string;

  constructor(path: string) {
    this.root = resolve(path);
    this.uri = `dir:${path}`;
  }

  get identity(): string {
    return `dir:${this.root}`;
  }

  async ready(): Promise<void> {
    this.folder("runs");
  }

  async snapshot(): Promise<LedgerSnapshot> {
    try {
      const st = fs.statSync(this.root);
      if (!st.isDirectory())
        throw new UsageError(
          "bad-ledger",
          `ledger "${this.uri}": ${this.root} is not a folder; give a folder (dir:PATH)`,
        );
    } catch (e) {
      if (e instanceof UsageError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT")
        throw fsInputError(`ledger "${this.uri}"`, e, "give a folder you can read (dir:PATH)");
    }
    return new DirSnapshot(this.uri, this.root);
  }

  /**
   * A real folder at root/…parts, made when missing; refuses a link or a file anywhere on the way
   * (checked before anything is made below it).
   */
  private folder(...parts: string[]): string {
    let path = this.root;
    const steps = [path, ...parts.map((p) => (path = join(path, p)))];
    for (const [i, dir] of steps.entries()) {
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOENT")
          throw fsInputError(`ledger "${this.uri}" (${dir})`, e, "give a writable folder");
      }
      if (!st) {
        try {
          // One folder at a time: Node's recursive mkdir spins forever under /proc.
          if (i === 0) mkdirParents(dir);
          fs.mkdirSync(dir);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST")
            throw fsInputError(`ledger "${this.uri}" (${dir})`, e, "give a writable folder (dir:PATH)");
        }
        st = fs.lstatSync(dir);
      }
      if (st.isSymbolicLink() && i > 0)
        throw new CheckFailedError(
          "ledger-link",
          `${dir} in ledger ${this.uri} is a symbolic link; the ledger never writes through links: remove it`,
        );
      if (!fs.statSync(dir).isDirectory())
        throw new UsageError("bad-ledger", `ledger "${this.uri}": ${dir} is not a folder`);
    }
    return path;
  }

  /** Removes what killed writers left in a folder of the ledger. */
  private sweep(dir: string): void {
    for (const name of listPlainDir(dir).map((e) => e.name)) {
      if (isDeadLeftover(name)) fs.rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  async putRun(runId: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<string> {
    const runs = this.folder("runs");
    this.sweep(runs);
    const dest = join(runs, runId);
    if (fs.existsSync(dest) || isLink(dest))
      throw new UsageError("run-exists", `run ${runId} is already recorded in ${this.uri}`);
    const tmp = join(runs, tmpName(runId, "partial"));
    fs.mkdirSync(tmp);
    try {
      for (const [name, body] of Object.entries(files))
        fs.writeFileSync(join(tmp, name), body, { flag: "wx" });
      // rename(2) onto an existing folder fails when it is not empty; a run folder is never empty.
      fs.renameSync(tmp, dest);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      if (fs.existsSync(dest))
        throw new UsageError("run-exists", `run ${runId} is already recorded in ${this.uri}`);
      throw fsInputError(`ledger "${this.uri}"`, e, "give a writable folder (dir:PATH)");
    }
    return dest;
  }

  async putFolderFile(folder: string, name: string, body: string | Uint8Array): Promise<boolean> {
    const dir = this.folder(folder);
    this.sweep(dir);
    const tmp = join(dir, tmpName(name, "tmp"));
    fs.writeFileSync(tmp, body, { flag: "wx" });
    try {
      // link(2) fails when the name is taken: a record is never replaced.
      fs.linkSync(tmp, join(dir, name));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async putRunFile(runId: string, name: string, body: string | Uint8Array): Promise<void> {
    const dir = join(this.root, "runs", runId);
    if (!fs.existsSync(dir)) throw new UsageError("no-such-run", `run ${runId} is not in ${this.uri}`);
    this.folder("runs", runId);
    const tmp = join(dir, tmpName(name, "tmp"));
    fs.writeFileSync(tmp, body, { flag: "wx" });
    fs.renameSync(tmp, join(dir, name));
  }

  async appendPromotion(model: string, pointer: ProductionPointer, record: string): Promise<boolean> {
    const dir = this.folder("models", model, "promotions");
    // 1. The record, written whole under a name of this process.
    const pending = join(dir, tmpName("promotion", "pending"));
    const fd = fs.openSync(
      pending,
      fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY,
      0o644,
    );
    try {
      fs.writeSync(fd, record);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // 2. The commit point: link(2) fails when the number is taken.
    try {
      fs.linkSync(pending, join(dir, promotionFileName(pointer.seq)));
    } catch (e) {
      fs.rmSync(pending, { force: true });
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    }
    // 3. The cache, then the pending name goes (a kill before this leaves it as the sign of step 2).
    this.writeProduction(model, pointer);
    fs.rmSync(pending, { force: true });
    // 4. A copy beside the promoted run: the sign that the model has a history, should its folder go.
    await this.putRunFile(pointer.runId, promotionCopyName(model, pointer.seq), record).catch(
      () => undefined,
    );
    return true;
  }

  private writeProduction(model: string, pointer: ProductionPointer | undefined): void {
    const dir = this.folder("models", model);
    const target = join(dir, "production.json");
    if (!pointer) {
      fs.rmSync(target, { force: true });
      return;
    }
    const tmp = join(dir, tmpName("production", "tmp"));
    fs.writeFileSync(tmp, `${JSON.stringify(pointer, null, 2)}\n`, { flag: "wx" });
    fs.renameSync(tmp, target);
  }

  async repair(model: string, head: ProductionPointer | undefined): Promise<void> {
    if (!head && !fs.existsSync(join(this.root, "models", model))) return;
    this.writeProduction(model, head);
    this.sweep(join(this.root, "models", model));
    this.sweep(join(this.root, "models", model, "promotions"));
  }
}

/** Makes the missing folders above `dir`, from the top down, one mkdir(2) each. */
function mkdirParents(dir: string): void {
  const missing: string[] = [];
  for (let d = dirname(dir); !fs.existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of missing) fs.mkdirSync(d);
}

function isLink(path: string): boolean {
  try {
    return fs.lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
