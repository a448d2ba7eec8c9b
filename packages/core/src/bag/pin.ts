// The data pin of a run: the digest of a bag's tagmanifest-sha256.txt, with Payload-Oxum, files and
// bytes. A bag is validated in full; a plain folder is pinned as its canonical bag (the bag
// `bag create` would make with no date and agent "track-run"), whose digest depends on the payload
// alone, so the same data gives the same pin on any machine. Unchanged files are not re-hashed:
// a stat cache outside the data remembers their digests.
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { CheckFailedError, UsageError } from "../errors.js";
import { buildTagFiles } from "./build.js";
import { checkBag } from "./check.js";
import { createBag, scanSource, startPayloadHashing } from "./create.js";
import type { HashProgress } from "./hash.js";
import { payloadIdentity } from "./identity.js";
import { locateBag, readDirContents, readTarContents, tagText } from "./read.js";
import { StatCache, TreeSignature } from "./stat-cache.js";
import { parseBagInfo } from "./tagfiles.js";

export interface DataPinResult {
  /** "sha256:<hex>" of tagmanifest-sha256.txt. */
  digest: string;
  payloadOxum: string;
  files: number;
  bytes: number;
  /** What PATH was: a bag folder, a bag archive, or a plain folder pinned as its canonical bag. */
  source: "bag" | "archive" | "folder";
  path: string;
  warnings: string[];
  /** With --out: where the canonical bag was written. */
  bag?: string;
  /** Payload files read this time; the others were unchanged and known from the stat cache. */
  hashed: number;
  /** "sha256:<hex>" over the sorted payload manifest (paths and sha256): the same files as a folder, a bag, a holey bag or a tar get the same identity. */
  payloadIdentity?: string;
  /** A bag's bag-info.txt labels and their values (Payload-Oxum, Bagging-Date and Bag-Size left out); none for a plain folder. */
  info?: Record<string, string[]>;
  /** The payload manifest (manifest-sha256.txt) the digest covers, kept with a run's record so a later change can be named file by file. */
  manifest?: string;
}

export interface PinDataOptions {
  /** Stat-cache folder; undefined disables the cache (a full re-hash). */
  cacheDir?: string;
  /** Write the canonical bag of a plain folder here. */
  out?: string;
  /** Top-level names of a plain folder left out of its pin. */
  ignore?: string[];
  onProgress?: (p: HashProgress) => void;
}

export const CANONICAL_AGENT = "track-run";

export async function pinData(path: string, options: PinDataOptions = {}): Promise<DataPinResult> {
  const loc = locateBag(path, "data");
  if (loc.kind === "tar") {
    const contents = await readTarContents(loc);
    const report = await checkBag(contents, "full", options.onProgress);
    return {
      ...fromReport(report, "archive", loc.path, path),
      ...identified(tagText(contents.tagFiles, "manifest-sha256.txt"), contents.tagFiles),
      hashed: contents.hashed,
    };
  }
  const root = loc.path;
  const statTakenAt = Date.now();
  if (fs.existsSync(join(root, "bagit.txt"))) {
    if (options.out)
      throw new UsageError("already-a-bag", `data "${path}" is already a bag; --out is for plain folders`);
    const cache = options.cacheDir
      ? { stat: StatCache.open(options.cacheDir, root), statTakenAt }
      : undefined;
    const contents = readDirContents(
      root,
      cache,
      cache ? {} : { prehash: true, ...(options.onProgress ? { onProgress: options.onProgress } : {}) },
    );
    const signature = cache ? contents.signature(statTakenAt) : undefined;
    const known = cache?.stat.recalled<Omit<DataPinResult, "hashed">>(signature);
    // The signature covers the tag files' bytes, so the manifest read now is the one the result was
    // recorded with: it is not stored twice, and its payload identity is the one recorded.
    const manifest = contents.tagFiles.get("manifest-sha256.txt")?.toString("utf8");
    if (known)
      return {
        ...known,
        ...(manifest !== undefined ? { manifest } : {}),
        ...identified(manifest, contents.tagFiles, known.payloadIdentity),
        hashed: 0,
      };
    let report: Awaited<ReturnType<typeof checkBag>>;
    try {
      report = await checkBag(contents, "full", options.onProgress);
    } finally {
      await contents.release?.();
    }
    const result = {
      ...fromReport(report, "bag", root, path),
      ...(manifest !== undefined ? { manifest } : {}),
      ...identified(manifest, contents.tagFiles),
    };
    const { manifest: _inTagFiles, ...recorded } = result;
    cache?.stat.remember(signature, recorded);
    return { ...result, hashed: contents.hashed };
  }
  if (options.out) {
    const summary = await createBag(root, options.out, {
      softwareAgent: CANONICAL_AGENT,
      noDate: true,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return {
      digest: summary.digest!,
      ...(summary.payloadIdentity ? { payloadIdentity: summary.payloadIdentity } : {}),
      payloadOxum: summary.payloadOxum,
      files: summary.files,
      bytes: summary.bytes,
      source: "folder",
      path: root,
      warnings: summary.warnings,
      bag: summary.path!,
      hashed: summary.files,
    };
  }
  const cache = options.cacheDir ? StatCache.open(options.cacheDir, root) : undefined;
  let hashed = 0;
  const hashing = startPayloadHashing(["sha256"], {
    root: resolve(root),
    statTakenAt,
    onHashed: (n) => {
      hashed = n;
    },
    ...(cache ? { cache } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  let scanned: ReturnType<typeof scanSource>;
  try {
    // Without a cache every file is read: hashing starts while the walk goes on. With one, the
    // walk comes first, as the whole tree's signature may make reading anything unnecessary.
    scanned = scanSource(
      root,
      "data",
      false,
      options.ignore ?? [],
      cache ? undefined : (t, i) => hashing.file(t, i),
      cache ? "parallel" : "none",
    );
  } catch (e) {
    await hashing.abort();
    throw e;
  }
  const { files, warnings } = scanned;
  let signature: string | undefined;
  if (cache) {
    const sig = new TreeSignature();
    for (let i = 0; i < files.length; i++) sig.addFile(files, i);
    signature = sig.finish(statTakenAt);
    const known = cache.recalled<Omit<DataPinResult, "hashed">>(signature);
    // The manifest is kept beside the result, as its bytes (StatCache.remember).
    const manifest = known && signature ? (known.manifest ?? cache.recalledText(signature)) : undefined;
    if (known && manifest !== undefined) {
      await hashing.abort();
      return { ...known, manifest, ...identified(manifest, undefined, known.payloadIdentity), hashed: 0 };
    }
    for (let i = 0; i < files.length; i++) hashing.file(files, i);
  }
  const payload = await hashing.finish(files);
  const bytes = files.bytes();
  const { summary, files: tags } = buildTagFiles({
    payload,
    bytes,
    algorithms: ["sha256"],
    info: [["Bag-Software-Agent", CANONICAL_AGENT]],
  });
  const manifestBytes = tags.get("manifest-sha256.txt")!;
  const result: Omit<DataPinResult, "hashed"> = {
    manifest: manifestBytes.toString("utf8"),
    digest: summary.digest!,
    ...(summary.payloadIdentity ? { payloadIdentity: summary.payloadIdentity } : {}),
    payloadOxum: summary.payloadOxum,
    files: summary.files,
    bytes,
    source: "folder",
    path: root,
    warnings,
  };
  const { manifest: _kept, ...recorded } = result;
  cache?.remember(signature, recorded, manifestBytes);
  return { ...result, hashed };
}

/** Labels of bag-info.txt left out of a data entry's info: recorded elsewhere (Payload-Oxum) or varying with when and how the bag was written. */
const INFO_LEFT_OUT = new Set(["payload-oxum", "bagging-date", "bag-size"]);

/** The payload identity (from the payload manifest) and, for a bag, its bag-info.txt fields. */
function identified(
  manifest: string | undefined,
  tagFiles?: ReadonlyMap<string, Buffer>,
  /** The identity already computed from this same manifest (recalled with it from the stat cache). */
  known?: string,
): Pick<DataPinResult, "payloadIdentity" | "info"> {
  const out: Pick<DataPinResult, "payloadIdentity" | "info"> = {};
  if (manifest !== undefined) out.payloadIdentity = known ?? payloadIdentity(manifest);
  const text = tagFiles ? tagText(tagFiles, "bag-info.txt") : undefined;
  const parsed = text === undefined ? undefined : parseBagInfo(text);
  if (parsed?.ok) {
    const info: Record<string, string[]> = {};
    for (const [label, value] of parsed.value) {
      if (INFO_LEFT_OUT.has(label.toLowerCase())) continue;
      info[label] = [...(info[label] ?? []), value];
    }
    if (Object.keys(info).length) out.info = info;
  }
  return out;
}

function fromReport(
  report: Awaited<ReturnType<typeof checkBag>>,
  source: "bag" | "archive",
  abs: string,
  given: string,
): Omit<DataPinResult, "hashed"> {
  if (!report.valid) {
    throw new CheckFailedError(
      "bag-invalid",
      `data "${given}" is not a valid bag (${report.errors.length} problem(s)), so it cannot be pinned`,
      {
        details: report.errors.map((e) => (e.file ? `${e.file}: ${e.message}` : e.message)),
      },
    );
  }
  if (!report.digest) {
    throw new UsageError(
      "no-sha256-tagmanifest",
      `data "${given}" has no tagmanifest-sha256.txt, which the data pin is the digest of; re-bag it with \`track-run bag create\` (sha256 is the default)`,
    );
  }
  return {
    digest: report.digest,
    payloadOxum: `${report.bytes}.${report.files}`,
    files: report.files,
    bytes: report.bytes,
    source,
    path: resolve(abs),
    warnings: report.warnings,
  };
}
