// Objects of the cache repository read by the git binary: one `git cat-file --batch` per snapshot,
// each object asked for by id and answered in order. isomorphic-git (in JavaScript) reads a packed
// object by looking for it loose first, listing the pack folder and inflating it in JavaScript, and
// parses the whole pack index on the first read: on a ledger of 10,000 runs that is most of a
// command. Where there is no git binary the snapshot reads with isomorphic-git as before.
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

interface Pending {
  oid: string;
  resolve: (o: GitObject) => void;
  reject: (e: Error) => void;
}

export class CatFile {
  private child?: ChildProcess;
  private readonly pending: Pending[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed?: Error;

  constructor(
    private readonly git: string,
    private readonly gitdir: string,
  ) {}

  /** The object `oid` (40 hex digits); rejects when the repository does not hold it. */
  read(oid: string): Promise<GitObject> {
    if (!/^[0-9a-f]{40}$/.test(oid)) return Promise.reject(new Error(`not an object id: ${oid}`));
    if (this.failed) return Promise.reject(this.failed);
    const child = this.start();
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
      env: { ...process.env, GIT_NO_REPLACE_OBJECTS: "1", GIT_CONFIG_NOSYSTEM: "1" },
    });
    child.stdout!.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.buffered += d.length;
      this.drain();
    });
    const fail = (e: Error) => {
      this.failed = e;
      for (const p of this.pending.splice(0)) p.reject(e);
      this.hold(false);
    };
    child.on("error", (e) => fail(new Error(`git cat-file: ${e.message}`)));
    child.on("exit", (code) => {
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

  /** Answers as many pending reads as the buffered output holds, in order. */
  private drain(): void {
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    let at = 0;
    while (this.pending.length) {
      const nl = buf.indexOf(10, at);
      if (nl < 0) break;
      const header = buf.toString("latin1", at, nl);
      const p = this.pending[0]!;
      const m = /^([0-9a-f]{40}) (\S+) (\d+)$/.exec(header);
      if (!m) {
        this.pending.shift();
        at = nl + 1;
        p.reject(new Error(`object ${p.oid} is missing from the cache repository (${header})`));
        continue;
      }
      const size = Number(m[3]);
      if (buf.length < nl + 1 + size + 1) break;
      this.pending.shift();
      const body = Buffer.from(buf.subarray(nl + 1, nl + 1 + size));
      at = nl + 1 + size + 1;
      if (m[1] !== p.oid) p.reject(new Error(`git cat-file answered ${m[1]} for ${p.oid}`));
      else p.resolve({ type: m[2]!, body });
    }
    buf = buf.subarray(at);
    this.chunks = buf.length ? [buf] : [];
    this.buffered = buf.length;
    if (!this.pending.length) this.hold(false);
  }
}

export type TreeEntry = { mode: string; path: string; oid: string; type: "blob" | "tree" | "commit" };

/** A tree object's entries: `<mode> <name>\0<20-byte id>` each. */
export function parseTree(body: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(32, at);
    const nul = body.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 21 > body.length) throw new Error("a damaged tree object");
    const mode = body.toString("latin1", at, space);
    const path = body.toString("utf8", space + 1, nul);
    const oid = body.toString("hex", nul + 1, nul + 21);
    const type = mode === "40000" ? "tree" : mode === "160000" ? "commit" : "blob";
    out.push({ mode: mode.padStart(6, "0"), path, oid, type });
    at = nul + 21;
  }
  return out;
}

/** A commit object's tree id. */
export function commitTree(body: Buffer): string {
  const m = /^tree ([0-9a-f]{40})\n/.exec(body.toString("latin1", 0, 46));
  if (!m) throw new Error("a damaged commit object");
  return m[1]!;
}
