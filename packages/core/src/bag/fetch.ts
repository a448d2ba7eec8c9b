// Holey bags: payload listed in fetch.txt and materialised on demand. Downloads run a few at a
// time, retry with backoff, resume a partial file with an HTTP Range request, and check length
// and checksum while streaming; a file lands at its final path only once verified.
import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import * as fs from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { errnoCode, UsageError } from "../errors.js";
import {
  assertNoSymlinkBetween,
  mkdirNoFollow,
  openAppendNoFollow,
  openExclusive,
  writeFileExclusive,
} from "../util/safe-fs.js";
import { type BagSummary, buildTagFiles, newBagInfo, tempSibling } from "./build.js";
import { isPayloadPath, safePath } from "./paths.js";
import { locateBag, readDirContents, tagText } from "./read.js";
import {
  type Algorithm,
  DIGEST_HEX_LENGTH,
  type FetchEntry,
  isAlgorithm,
  manifestAlgorithm,
  parseFetch,
  parseManifest,
} from "./tagfiles.js";

export interface FetchOptions {
  concurrency?: number;
  retries?: number;
  /** First backoff delay; doubles each retry up to 10 s. */
  backoffMs?: number;
  onFile?: (e: {
    path: string;
    state: "fetched" | "present" | "failed";
    attempts: number;
    error?: string;
  }) => void;
}

export interface FetchReport {
  fetched: string[];
  present: string[];
  failed: Array<{ path: string; url: string; error: string }>;
}

const STRENGTH: Algorithm[] = ["sha512", "sha384", "sha256", "sha224", "sha1", "md5"];

class Retryable extends Error {}

/** Downloads every fetch.txt entry of the bag folder `bag` that is not yet present. */
export async function fetchBag(bag: string, options: FetchOptions = {}): Promise<FetchReport> {
  const loc = locateBag(bag);
  if (loc.kind !== "dir")
    throw new UsageError(
      "not-a-folder",
      `bag "${bag}" is an archive; extract it, or fetch into a bag folder`,
    );
  const root = loc.path;
  const contents = readDirContents(root);
  const fetchText = tagText(contents.tagFiles, "fetch.txt");
  if (fetchText === undefined)
    throw new UsageError("no-fetch", `bag "${bag}" has no fetch.txt: nothing to fetch`);
  const parsed = parseFetch(fetchText);
  if (!parsed.ok)
    throw new UsageError("bad-fetch", `bag "${bag}": fetch.txt is malformed`, { details: parsed.errors });

  // The expected checksum of each path, by the strongest algorithm the bag has.
  const expected = new Map<string, { alg: Algorithm; digest: string }>();
  for (const name of contents.tagFiles.keys()) {
    const m = manifestAlgorithm(name);
    if (m?.kind !== "payload" || !isAlgorithm(m.alg)) continue;
    const man = parseManifest(tagText(contents.tagFiles, name)!, name);
    if (!man.ok) continue;
    for (const e of man.value) {
      const s = safePath(e.path);
      if (!s.ok) continue;
      const prior = expected.get(s.path);
      if (!prior || STRENGTH.indexOf(m.alg) < STRENGTH.indexOf(prior.alg))
        expected.set(s.path, { alg: m.alg, digest: e.digest });
    }
  }

  const entries: FetchEntry[] = [];
  const bad: string[] = [];
  for (const f of parsed.value) {
    const s = safePath(f.path);
    if (!s.ok || !isPayloadPath(s.path))
      bad.push(`line ${f.line}: ${JSON.stringify(f.path)} ${s.ok ? "is outside data/" : s.reason}`);
    else if (!expected.has(s.path))
      bad.push(`line ${f.line}: ${s.path} is in no payload manifest, so it cannot be verified`);
    else entries.push({ ...f, path: s.path });
  }
  if (bad.length)
    throw new UsageError("unsafe-fetch", `bag "${bag}": fetch.txt has entries that are refused`, {
      details: bad,
    });

  const report: FetchReport = { fetched: [], present: [], failed: [] };
  const queue = entries.filter((e) => {
    if (contents.payload.has(e.path)) {
      report.present.push(e.path);
      options.onFile?.({ path: e.path, state: "present", attempts: 0 });
      return false;
    }
    return true;
  });
  const workers = Array.from(
    { length: Math.max(1, Math.min(options.concurrency ?? 4, queue.length)) },
    async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        const entry = e;
        const want = expected.get(entry.path)!;
        const dest = join(root, entry.path);
        let attempts = 0;
        try {
          prepareDestination(root, entry.path);
          await withRetries(options, () => {
            attempts++;
            return fetchOne(entry, dest, want);
          });
          report.fetched.push(entry.path);
          options.onFile?.({ path: entry.path, state: "fetched", attempts });
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          report.failed.push({ path: entry.path, url: entry.url, error });
          options.onFile?.({ path: entry.path, state: "failed", attempts, error });
        }
      }
    },
  );
  await Promise.all(workers);
  for (const k of ["fetched", "present"] as const) report[k].sort();
  return report;
}

/**
 * Makes the folders of `rel` (a payload path) inside the bag without following a link: every
 * component is checked before any folder is made, and a link anywhere on the way, at the file or
 * at its .part, refuses the entry (nothing is made or written outside the bag).
 */
function prepareDestination(root: string, rel: string): void {
  mkdirNoFollow(root, dirname(rel));
  assertNoSymlinkBetween(root, join(root, rel));
  assertNoSymlinkBetween(root, join(root, `${rel}.part`));
}

/** The size of a partial download to resume from: 0 when there is none; a link or a non-file is refused. */
function partSize(part: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(part);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return 0;
    throw e;
  }
  if (!st.isFile())
    throw new Error(
      `${part} is a symbolic link or not a regular file; refusing to write through it: remove it`,
    );
  return st.size;
}

/** A new, empty .part file, created exclusively (O_EXCL|O_NOFOLLOW); an old partial file is replaced. */
function freshPart(part: string): number {
  partSize(part);
  fs.rmSync(part, { force: true });
  return openExclusive(part);
}

async function withRetries(o: FetchOptions, attempt: () => Promise<void>): Promise<void> {
  const retries = o.retries ?? 5;
  let delay = o.backoffMs ?? 250;
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof Retryable) || i >= retries) throw e;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }
}

/** One attempt: resumes `dest.part` when the server honours Range, verifies, then renames into place. */
async function fetchOne(
  entry: FetchEntry,
  dest: string,
  want: { alg: Algorithm; digest: string },
): Promise<void> {
  const part = `${dest}.part`;
  const url = new URL(entry.url);
  if (url.protocol === "file:") {
    const hash = createHash(want.alg);
    const out = fs.createWriteStream(part, { fd: freshPart(part) });
    let n = 0;
    for await (const chunk of fs.createReadStream(fileURLToPath(url)) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      n += chunk.length;
      if (!out.write(chunk)) await once(out, "drain");
    }
    await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
    return finish(part, dest, entry, want, hash, n);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`unsupported URL scheme ${url.protocol} (http, https and file are supported)`);
  }
  let have = partSize(part);
  if (entry.length !== undefined && have > entry.length) {
    fs.rmSync(part, { force: true });
    have = 0;
  }
  let res: Response;
  try {
    res = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, redirect: "follow" });
  } catch (e) {
    throw new Retryable(`${entry.url}: ${(e as Error).message}`);
  }
  if (res.status >= 500 || res.status === 429 || res.status === 408)
    throw new Retryable(`${entry.url}: HTTP ${res.status}`);
  if (res.status === 416 && have > 0) {
    // Already complete (or the part is wrong): verify what we have.
    fs.rmSync(part, { force: true });
    throw new Retryable(`${entry.url}: range not satisfiable, starting over`);
  }
  if (res.status !== 200 && res.status !== 206) throw new Error(`${entry.url}: HTTP ${res.status}`);
  const resume = res.status === 206 && have > 0;
  const hash = createHash(want.alg);
  if (resume) {
    const fd = fs.openSync(part, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    for await (const chunk of fs.createReadStream(part, { fd }) as AsyncIterable<Buffer>) hash.update(chunk);
  } else have = 0;
  const out = fs.createWriteStream(part, { fd: resume ? openAppendNoFollow(part) : freshPart(part) });
  let n = have;
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        n += chunk.length;
        if (entry.length !== undefined && n > entry.length)
          throw new Error(`${entry.url}: more bytes than the ${entry.length} fetch.txt declares`);
        if (!out.write(chunk)) await once(out, "drain");
      }
    }
  } catch (e) {
    await new Promise<void>((r) => out.end(() => r()));
    if (e instanceof Error && e.message.includes("more bytes")) {
      fs.rmSync(part, { force: true });
      throw e;
    }
    // A dropped connection: keep the part and resume from it.
    throw new Retryable(`${entry.url}: ${(e as Error).message} after ${n} bytes`);
  }
  await new Promise<void>((res2, rej) => out.end((err?: Error | null) => (err ? rej(err) : res2())));
  if (entry.length !== undefined && n < entry.length)
    throw new Retryable(`${entry.url}: connection ended after ${n} of ${entry.length} bytes`);
  return finish(part, dest, entry, want, hash, n);
}

function finish(
  part: string,
  dest: string,
  entry: FetchEntry,
  want: { alg: Algorithm; digest: string },
  hash: Hash,
  n: number,
): void {
  const actual = hash.digest("hex");
  if (entry.length !== undefined && n !== entry.length) {
    fs.rmSync(part, { force: true });
    throw new Error(`${entry.path}: got ${n} bytes, fetch.txt declares ${entry.length}`);
  }
  if (actual !== want.digest) {
    fs.rmSync(part, { force: true });
    throw new Retryable(`${entry.path}: ${want.alg} ${actual} does not match the manifest's ${want.digest}`);
  }
  fs.renameSync(part, dest);
}

export interface RemoteFile {
  url: string;
  length: number;
  /** Path relative to the payload folder data/ (a list's "data/points.csv" is "points.csv" here). */
  path: string;
  sha256: string;
}

/** Parses and checks a remote-file list (JSON array of {url, length, path, sha256}), naming every bad entry. */
export function parseRemoteList(text: string, source: string): RemoteFile[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError("bad-remote-list", `${source} is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc))
    throw new UsageError("bad-remote-list", `${source} must be a JSON array of {url, length, path, sha256}`);
  const problems: string[] = [];
  const seen = new Set<string>();
  const out: RemoteFile[] = [];
  doc.forEach((item: unknown, i) => {
    const at = `[${i}]`;
    if (typeof item !== "object" || item === null) {
      problems.push(`${at}: not an object`);
      return;
    }
    const r = item as Record<string, unknown>;
    const before = problems.length;
    if (typeof r.url !== "string" || !URL.canParse(r.url))
      problems.push(`${at}.url: must be an absolute URL`);
    if (typeof r.length !== "number" || !Number.isSafeInteger(r.length) || r.length < 0)
      problems.push(`${at}.length: must be a whole number of bytes`);
    if (
      typeof r.sha256 !== "string" ||
      !/^[0-9a-fA-F]+$/.test(r.sha256) ||
      r.sha256.length !== DIGEST_HEX_LENGTH.sha256
    ) {
      problems.push(`${at}.sha256: must be 64 hex digits`);
    }
    const s = typeof r.path === "string" ? safePath(r.path) : undefined;
    // The path in the bag ("data/points.csv") or relative to data/ ("points.csv", as bdbag writes it).
    const rel = s?.ok ? s.path.replace(/^data\//, "") : "";
    if (!s?.ok) problems.push(`${at}.path: ${s && !s.ok ? s.reason : "must be a relative path under data/"}`);
    else if (rel === "") problems.push(`${at}.path: "${s.path}" names no file under data/`);
    else if (seen.has(rel)) problems.push(`${at}.path: "data/${rel}" is listed twice`);
    else seen.add(rel);
    if (problems.length === before && s?.ok) {
      out.push({
        url: new URL(r.url as string).href,
        length: r.length as number,
        path: rel,
        sha256: (r.sha256 as string).toLowerCase(),
      });
    }
  });
  if (problems.length)
    throw new UsageError("bad-remote-list", `${source} has ${problems.length} problem(s)`, {
      details: problems,
    });
  return out;
}

/** Makes a holey bag (no payload, all of it in fetch.txt) from a remote-file list, as bdbag does. */
export function createHoleyBag(
  files: readonly RemoteFile[],
  out: string,
  options: { info?: Array<[string, string]>; softwareAgent?: string; date?: Date } = {},
): BagSummary {
  const dest = resolve(out);
  if (fs.existsSync(dest))
    throw new UsageError("output-exists", `--out "${out}" already exists; choose a new path or remove it`);
  const payload = new Map(
    [...files]
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((f) => [`data/${f.path}`, { sha256: f.sha256 }] as const),
  );
  const bytes = files.reduce((s, f) => s + f.length, 0);
  const info = newBagInfo(options.info ?? [], {
    softwareAgent: options.softwareAgent ?? "track-run",
    date: options.date ?? new Date(),
  });
  const { files: tags, summary } = buildTagFiles({
    payload,
    bytes,
    algorithms: ["sha256"],
    info,
    fetch: files.map((f) => ({ url: f.url, length: f.length, path: `data/${f.path}` })),
  });
  // A new folder of our own (mkdir fails on anything already there, a link included).
  const tmp = tempSibling(dest);
  fs.mkdirSync(dirname(tmp), { recursive: true });
  fs.mkdirSync(tmp);
  try {
    fs.mkdirSync(join(tmp, "data"));
    for (const [name, body] of tags) writeFileExclusive(join(tmp, name), body);
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { ...summary, path: dest, warnings: [] };
}
