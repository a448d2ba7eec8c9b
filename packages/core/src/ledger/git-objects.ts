// The git objects a ledger write makes, encoded here rather than through isomorphic-git: a write
// changes one entry of the runs/ tree, which on a ledger of 10,000 runs is a 400 KB object.
// isomorphic-git parses that tree into 10,000 objects to find or change one entry, serialises it
// again, and packs it whole; here a tree is changed by splicing its bytes, looked up by scanning
// them, and pushed as a delta against the tree the remote already has (a thin pack, as `git push`
// sends). Formats: git's tree, commit and loose objects, and pack version 2 (gitformat-pack).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";

export type ObjectType = "blob" | "tree" | "commit";
const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3 };
const REF_DELTA = 7;

/** An object a write adds; a tree changed from one the remote has carries the delta from that one. */
export interface NewObject {
  type: ObjectType;
  oid: string;
  body: Buffer;
  delta?: { base: string; data: Buffer };
}

/** The object id (SHA-1 of the header and body) of a `type` object holding `body`. */
export function objectId(type: ObjectType, body: Uint8Array): string {
  return createHash("sha1").update(`${type} ${body.length}\0`).update(body).digest("hex");
}

/** A tree entry: its mode as git writes it in trees ("100644", "40000") and its object id. */
export interface Entry {
  mode: string;
  oid: string;
}

/**
 * Git's order of tree entries: byte order of the names, a folder's name compared as if it ended in
 * "/" (base_name_compare in git).
 */
function compareNames(a: Buffer, aDir: boolean, b: Buffer, bDir: boolean): number {
  const n = Math.min(a.length, b.length);
  const c = a.compare(b, 0, n, 0, n);
  if (c !== 0) return c;
  const ca = a.length > n ? a[n]! : aDir ? 0x2f : 0;
  const cb = b.length > n ? b[n]! : bDir ? 0x2f : 0;
  return ca - cb;
}

/** The entry of a tree object's bytes that starts at `at`: where its mode, name and id lie. */
interface Located {
  /** The space after the mode; the name follows it. */
  space: number;
  /** The NUL after the name; the 20-byte id follows it. */
  nul: number;
  /** Where the next entry starts. */
  end: number;
  /** A folder ("40000", the one mode that starts with 4). */
  dir: boolean;
}

function entryAt(tree: Buffer, at: number): Located {
  const space = tree.indexOf(32, at);
  const nul = tree.indexOf(0, space + 1);
  if (space < 0 || nul < 0 || nul + 21 > tree.length) throw new Error("a damaged tree object");
  return { space, nul, end: nul + 21, dir: tree[at] === 0x34 };
}

/** A located entry's mode and id. */
const entryOf = (tree: Buffer, at: number, e: Located): Entry => ({
  mode: tree.toString("latin1", at, e.space),
  oid: tree.toString("hex", e.nul + 1, e.nul + 21),
});

export type TreeEntry = { mode: string; path: string; oid: string; type: "blob" | "tree" | "commit" };

/** A tree object's entries, each parsed (see findEntry and diffTrees for reads that parse less). */
export function parseTree(body: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (let at = 0; at < body.length; ) {
    const e = entryAt(body, at);
    const { mode, oid } = entryOf(body, at, e);
    const type = mode === "40000" ? "tree" : mode === "160000" ? "commit" : "blob";
    out.push({ mode: mode.padStart(6, "0"), path: body.toString("utf8", e.space + 1, e.nul), oid, type });
    at = e.end;
  }
  return out;
}

/** A commit object's tree id. */
export function commitTree(body: Buffer): string {
  const m = /^tree ([0-9a-f]{40})\n/.exec(body.toString("latin1", 0, 46));
  if (!m) throw new Error("a damaged commit object");
  return m[1]!;
}

/** The entry named `name` in a tree object's bytes, found by scanning them (no entry is parsed but that one). */
export function findEntry(tree: Buffer, name: string): Entry | undefined {
  const want = Buffer.from(name, "utf8");
  for (let at = 0; at < tree.length; ) {
    const e = entryAt(tree, at);
    if (e.nul - e.space - 1 === want.length && tree.compare(want, 0, want.length, e.space + 1, e.nul) === 0)
      return entryOf(tree, at, e);
    at = e.end;
  }
  return undefined;
}

/** How a changed tree is made from the one it replaces: stretches of it copied, new entries inserted. */
type Step = { copy: [start: number, end: number] } | { insert: Buffer };

/**
 * `base` (a tree object's bytes, or none) with the entries of `set` added or replaced, in git's
 * order: one pass over the base, copying the runs of entries that stay as they are. With the bytes,
 * the delta that makes them from `base` (gitformat-pack), the size of the entries written.
 */
export function treeWith(
  base: Buffer | undefined,
  set: ReadonlyMap<string, Entry>,
): { body: Buffer; delta: Buffer } {
  const adds = [...set]
    .map(([name, e]) => ({ name: Buffer.from(name, "utf8"), dir: e.mode === "40000", e }))
    .sort((x, y) => compareNames(x.name, x.dir, y.name, y.dir));
  for (const a of adds)
    if (a.name.length === 0 || a.name.includes(0) || a.name.includes(0x2f) || !/^[0-9a-f]{40}$/.test(a.e.oid))
      throw new Error(`a bad tree entry "${a.name.toString("utf8")}"`);
  const src = base ?? Buffer.alloc(0);
  // A base out of git's order, or holding a name twice, is damaged: a write on it could add the
  // name again where readers do not look. So is an added name already there as the other kind.
  checkOrder(src);
  for (const a of adds) {
    const there = findEntry(src, a.name.toString("utf8"));
    if (there && (there.mode === "40000") !== a.dir)
      throw new Error(`"${a.name.toString("utf8")}" is a file and a folder at once`);
  }
  const steps: Step[] = [];
  const entry = (a: (typeof adds)[number]) =>
    steps.push({
      insert: Buffer.concat([
        Buffer.from(`${a.e.mode} `, "latin1"),
        a.name,
        Buffer.from([0]),
        Buffer.from(a.e.oid, "hex"),
      ]),
    });
  let k = 0;
  let at = 0;
  let copied = 0;
  while (at < src.length && k < adds.length) {
    const e = entryAt(src, at);
    const c = compareNames(adds[k]!.name, adds[k]!.dir, src.subarray(e.space + 1, e.nul), e.dir);
    if (c > 0) {
      at = e.end;
      continue;
    }
    if (at > copied) steps.push({ copy: [copied, at] });
    entry(adds[k++]!);
    // The same name (of the same kind) is replaced: the old entry is skipped.
    if (c === 0) at = e.end;
    copied = at;
  }
  if (src.length > copied) steps.push({ copy: [copied, src.length] });
  while (k < adds.length) entry(adds[k++]!);
  const body = Buffer.concat(steps.map((s) => ("copy" in s ? src.subarray(s.copy[0], s.copy[1]) : s.insert)));
  return { body, delta: deltaOf(src.length, body.length, steps) };
}

/** A commit object's bytes (one parent or none, author and committer the same, UTC). */
export function commitBody(o: {
  tree: string;
  parent?: string;
  author: { name: string; email: string };
  seconds: number;
  message: string;
}): Buffer {
  // Angle brackets and line ends would break the header line; a name never needs them.
  const clean = (s: string) => s.replace(/[<>\n\r\0]/g, "").trim();
  const who = `${clean(o.author.name)} <${clean(o.author.email)}> ${o.seconds} +0000`;
  return Buffer.from(
    `tree ${o.tree}\n${o.parent ? `parent ${o.parent}\n` : ""}author ${who}\ncommitter ${who}\n\n${o.message}`,
    "utf8",
  );
}

/** Writes an object loose into a repository (atomically: a temporary file renamed), unless it is there. */
export function writeLoose(gitdir: string, o: Pick<NewObject, "type" | "oid" | "body">): void {
  const dir = join(gitdir, "objects", o.oid.slice(0, 2));
  const file = join(dir, o.oid.slice(2));
  if (fs.existsSync(file)) return;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${o.oid.slice(2, 12)}`);
  fs.writeFileSync(
    tmp,
    deflateSync(Buffer.concat([Buffer.from(`${o.type} ${o.body.length}\0`, "latin1"), o.body]), { level: 1 }),
  );
  fs.renameSync(tmp, file);
}

/** A size as delta headers write it: 7 bits a byte, least significant first. */
function varint(n: number, out: number[]): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

/** The largest copy one delta instruction holds that every reader takes (git writes no larger). */
const MAX_COPY = 0x10000;

/** The delta (gitformat-pack) of these steps: a copy is at most 64 KiB, an insert 127 bytes. */
function deltaOf(baseSize: number, targetSize: number, steps: readonly Step[]): Buffer {
  const head: number[] = [];
  varint(baseSize, head);
  varint(targetSize, head);
  const parts: Buffer[] = [Buffer.from(head)];
  for (const s of steps) {
    if ("insert" in s) {
      for (let i = 0; i < s.insert.length; i += 127) {
        const piece = s.insert.subarray(i, i + 127);
        parts.push(Buffer.from([piece.length]), piece);
      }
      continue;
    }
    for (let off = s.copy[0]; off < s.copy[1]; off += MAX_COPY) {
      const n = Math.min(MAX_COPY, s.copy[1] - off);
      const op = [0x80];
      for (let i = 0; i < 4; i++) {
        const b = Math.floor(off / 2 ** (8 * i)) & 0xff;
        if (b) {
          op[0]! |= 1 << i;
          op.push(b);
        }
      }
      for (let i = 0; i < 3; i++) {
        const b = (n >> (8 * i)) & 0xff;
        if (b) {
          op[0]! |= 0x10 << i;
          op.push(b);
        }
      }
      parts.push(Buffer.from(op));
    }
  }
  return Buffer.concat(parts);
}

/** A pack object's header: its type and size, 4 bits then 7 bits a byte. */
function packHeader(type: number, size: number): Buffer {
  const out = [(type << 4) | (size & 0x0f)];
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    out[out.length - 1]! |= 0x80;
    out.push(rest & 0x7f);
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(out);
}

/**
 * A pack (version 2) of `objects`. With `thin`, an object with a delta is sent as that delta, against
 * a base the pack does not hold (the receiver does: it is in the tip the write was made on).
 */
export function packOf(objects: readonly NewObject[], o: { thin: boolean }): Buffer {
  const head = Buffer.alloc(12);
  head.write("PACK", 0, "latin1");
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(objects.length, 8);
  const parts: Buffer[] = [head];
  for (const obj of objects) {
    const delta = o.thin && obj.delta && obj.delta.data.length < obj.body.length ? obj.delta : undefined;
    if (delta)
      parts.push(
        packHeader(REF_DELTA, delta.data.length),
        Buffer.from(delta.base, "hex"),
        deflateSync(delta.data, { level: 1 }),
      );
    else parts.push(packHeader(TYPE_CODE[obj.type], obj.body.length), deflateSync(obj.body, { level: 1 }));
  }
  const hash = createHash("sha1");
  for (const p of parts) hash.update(p);
  parts.push(hash.digest());
  return Buffer.concat(parts);
}

/** Throws unless a tree's entries are in git's order, each name once (what git fsck checks). */
function checkOrder(tree: Buffer): void {
  let prev: { name: Buffer; dir: boolean } | undefined;
  for (let at = 0; at < tree.length; ) {
    const e = entryAt(tree, at);
    const cur = { name: tree.subarray(e.space + 1, e.nul), dir: e.dir };
    if (prev && (compareNames(prev.name, prev.dir, cur.name, cur.dir) >= 0 || prev.name.equals(cur.name)))
      throw new Error(`a damaged tree object: "${cur.name.toString("utf8")}" out of git's order or twice`);
    prev = cur;
    at = e.end;
  }
}

/** An entry of two trees that differs: `before` absent when added, `after` absent when removed. */
export interface EntryChange {
  name: string;
  before?: Entry;
  after?: Entry;
}

/**
 * The entries in which tree `b` differs from tree `a` (both tree objects' bytes): a merge of the two
 * sorted lists, entries that are the same bytes in both passed over without being parsed. Throws on
 * a tree out of git's order or with a name twice (the merge would call a present entry gone).
 */
export function diffTrees(a: Buffer, b: Buffer): EntryChange[] {
  checkOrder(a);
  checkOrder(b);
  const out: EntryChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i >= a.length) {
      const y = entryAt(b, j);
      out.push({ name: b.toString("utf8", y.space + 1, y.nul), after: entryOf(b, j, y) });
      j = y.end;
      continue;
    }
    if (j >= b.length) {
      const x = entryAt(a, i);
      out.push({ name: a.toString("utf8", x.space + 1, x.nul), before: entryOf(a, i, x) });
      i = x.end;
      continue;
    }
    const x = entryAt(a, i);
    const y = entryAt(b, j);
    if (x.end - i === y.end - j && a.compare(b, j, y.end, i, x.end) === 0) {
      i = x.end;
      j = y.end;
      continue;
    }
    const c = compareNames(a.subarray(x.space + 1, x.nul), x.dir, b.subarray(y.space + 1, y.nul), y.dir);
    const name = (c <= 0 ? a : b).toString("utf8", (c <= 0 ? x : y).space + 1, (c <= 0 ? x : y).nul);
    if (c < 0) {
      out.push({ name, before: entryOf(a, i, x) });
      i = x.end;
    } else if (c > 0) {
      out.push({ name, after: entryOf(b, j, y) });
      j = y.end;
    } else {
      out.push({ name, before: entryOf(a, i, x), after: entryOf(b, j, y) });
      i = x.end;
      j = y.end;
    }
  }
  return out;
}
