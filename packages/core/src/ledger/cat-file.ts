// Objects of the cache repository read by the git binary: one `git cat-file --batch` per ledger
// (its snapshots and writes share it), each object asked for by id and answered in order.
// isomorphic-git (in JavaScript) reads a packed object by looking for it loose first, listing the
// pack folder and inflating it in JavaScript, and parses the whole pack index on the first read: on
// a ledger of 10,000 runs that is most of a command. Where there is no git binary the snapshot
// reads with isomorphic-git as before.
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import { delimiter, join } from "node:path";

export interface GitObject {
  type: string;
  body: Buffer;
}

let gitBinary: string | null | undefined;

/** The git binary on PATH, or null (looked up once per process, without starting it). */
export function findGit(): string | null {
  if (gitBinary !== undefined) return gitBinary;
  gitBinary = null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, "git");
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) {
        gitBinary = p;
        break;
      }
    } catch {}
  }
  return gitBinary;
}

/** The largest object read (a record file is read up to 256 MiB, as on a dir: ledger). */
const MAX_OBJECT_BYTES = 256 * 1024 * 1024;

interface Pending {
  oid: string;
  resolve: (o: GitObject) => void;
  reject: (e: Error) => void;
}

export class CatFile {
  private child?: ChildProcess;
  private readonly pending: Pending[] = [];
  /** The header line read so far (it may span chunks). */
  private head: Buffer[] = [];
  /** The object being read: its body filled as chunks come (plus the LF after it), or counted only when too large. */
  private body?: { oid: string; type: string; size: number; got: number; bytes?: Buffer };
  private failed?: Error;
  private idle?: NodeJS.Timeout;

  constructor(
    private readonly git: string,
    private readonly gitdir: string,
  ) {}

  /** The object `oid` (40 hex digits); rejects when the repository does not hold it. */
  read(oid: string): Promise<GitObject> {
    if (!/^[0-9a-f]{40}$/.test(oid)) return Promise.reject(new Error(`not an object id: ${oid}`));
    if (this.failed) return Promise.reject(this.failed);
    const child = this.start();
    clearTimeout(this.idle);
    return new Promise<GitObject>((resolve, reject) => {
      this.pending.push({ oid, resolve, reject });
      this.hold(true);
      child.stdin!.write(`${oid}\n`);
    });
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(this.git, ["--git-dir", this.gitdir, "cat-file", "--batch"], {
      stdio: ["pipe", "pipe", "ignore"],
      // The cache repository only: no GIT_DIR, GIT_OBJECT_DIRECTORY or alternates from the caller.
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GIT_"))),
        GIT_NO_REPLACE_OBJECTS: "1",
        GIT_CONFIG_NOSYSTEM: "1",
      },
    });
    child.stdout!.on("data", (d: Buffer) => this.take(d));
    const fail = (e: Error) => {
      this.failed = e;
      for (const p of this.pending.splice(0)) p.reject(e);
      this.hold(false);
    };
    child.on("error", (e) => {
      if (this.child === child) fail(new Error(`git cat-file: ${e.message}`));
    });
    child.on("exit", (code) => {
      // A process closed when idle ends quietly; one ending under reads fails them.
      if (this.child !== child) return;
      if (this.pending.length) fail(new Error(`git cat-file exited (${code}) with objects still to read`));
      this.child = undefined;
    });
    child.stdin!.on("error", () => {});
    this.child = child;
    return child;
  }

  /** While objects are asked for, the process keeps Node running; idle, it does not. */
  private hold(on: boolean): void {
    const c = this.child;
    if (!c) return;
    for (const h of [c, c.stdin, c.stdout] as Array<{ ref?(): void; unref?(): void } | null>)
      on ? h?.ref?.() : h?.unref?.();
  }

  /** Reads the answers in a chunk of output, in order: a header line, then that many bytes and an LF. */
  private take(d: Buffer): void {
    let at = 0;
    while (at < d.length) {
      if (!this.body) {
        const nl = d.indexOf(10, at);
        if (nl < 0) {
          this.head.push(d.subarray(at));
          return;
        }
        this.head.push(d.subarray(at, nl));
        const header = Buffer.concat(this.head).toString("latin1");
        this.head = [];
        at = nl + 1;
        const m = /^([0-9a-f]{40}) (\S+) (\d+)$/.exec(header);
        if (!m) {
          const p = this.pending.shift();
          p?.reject(new Error(`object ${p.oid} is missing from the cache repository (${header})`));
          continue;
        }
        const size = Number(m[3]);
        // An object too large to be a record is read past, not held (its reader is told why).
        this.body = {
          oid: m[1]!,
          type: m[2]!,
          size,
          got: 0,
          ...(size <= MAX_OBJECT_BYTES ? { bytes: Buffer.allocUnsafe(size) } : {}),
        };
        continue;
      }
      const b = this.body;
      const n = Math.min(b.size + 1 - b.got, d.length - at);
      if (b.bytes && b.got < b.size) d.copy(b.bytes, b.got, at, at + Math.min(n, b.size - b.got));
      b.got += n;
      at += n;
      if (b.got < b.size + 1) continue;
      this.body = undefined;
      const p = this.pending.shift();
      if (!p) continue;
      if (b.oid !== p.oid) p.reject(new Error(`git cat-file answered ${b.oid} for ${p.oid}`));
      else if (!b.bytes)
        p.reject(
          new Error(
            `object ${p.oid} is ${b.size} bytes, more than ${MAX_OBJECT_BYTES} a ledger file may have`,
          ),
        );
      else p.resolve({ type: b.type, body: b.bytes });
    }
    if (!this.pending.length) {
      this.hold(false);
      // Idle a moment: the process ends (a long-lived caller keeps no child per snapshot); a later read starts another.
      clearTimeout(this.idle);
      this.idle = setTimeout(() => this.close(), 200).unref();
    }
  }

  /** Ends the process once nothing is asked of it. */
  close(): void {
    clearTimeout(this.idle);
    if (this.pending.length) return;
    this.child?.stdin?.end();
    this.child = undefined;
  }
}
