// Validation of a bag's content against RFC 8493 (and its drafts 0.93 to 0.97), whatever it is read
// from: a folder or a tar stream deliver the same BagContents. Every problem is reported, not the
// first one only.
import type { HashOutcome, HashProgress } from "./hash.js";
import { digestBytes } from "./hash.js";
import { isPayloadPath, nearMatch, normalizationTwins, safePath } from "./paths.js";
import {
  type Algorithm,
  type BagInfo,
  type BagVersion,
  decodeTagFile,
  eachManifestEntry,
  type FetchEntry,
  infoValue,
  isAlgorithm,
  type ManifestEntry,
  manifestAlgorithm,
  parseBagInfo,
  parseBagitTxt,
  parseFetch,
  parseOxum,
  WEAK_ALGORITHMS,
} from "./tagfiles.js";

export type ValidationMode = "full" | "fast" | "completeness";

export interface BagProblem {
  /** The file concerned, relative to the bag, when there is one. */
  file?: string;
  message: string;
  expected?: string;
  actual?: string;
}

export interface BagReport {
  valid: boolean;
  mode: ValidationMode;
  version?: BagVersion;
  errors: BagProblem[];
  warnings: string[];
  algorithms: Algorithm[];
  /** Payload-Oxum as declared in bag-info.txt. */
  declaredOxum?: string;
  files: number;
  bytes: number;
  /** "sha256:<hex>" of tagmanifest-sha256.txt, when the bag has one. */
  digest?: string;
  info: BagInfo;
  /** Payload entries listed in fetch.txt. */
  fetch: FetchEntry[];
}

/** Payload paths ("data/…") with their sizes: a Map, or the same over a walk's columns. */
export interface PayloadFiles {
  readonly size: number;
  has(path: string): boolean;
  /** The file's size. */
  get(path: string): number | undefined;
  keys(): Iterable<string>;
  /** The sizes, in the order of keys(). */
  values(): Iterable<number>;
}

export interface BagContents {
  /** Every regular file outside data/, by bag-relative path, with its bytes. */
  tagFiles: Map<string, Buffer>;
  /** Every regular file under data/ ("data/…") with its size. */
  payload: PayloadFiles;
  hasPayloadDir: boolean;
  /** Paths (bag-relative) that are symbolic links, fifos, devices or sockets. */
  nonRegular: string[];
  /** Hashes `paths`; the result says each one's outcome (by path; undefined for a path not asked for). */
  hashPayload(
    paths: string[],
    algs: Algorithm[],
    onProgress?: (p: HashProgress) => void,
  ): Promise<(path: string) => HashOutcome | undefined>;
  /** How many payload files were actually read (the rest came from the stat cache). */
  readonly hashed: number;
  /** Stops any hashing started ahead of time that was not asked for (a check that ended early). */
  release?(): Promise<void>;
  /**
   * Present when the payload's sizes are known only once it is read (a folder walked without
   * stat facts while its files were hashed): resolves when they are.
   */
  settleSizes?(): Promise<void>;
}

interface ParsedManifest {
  name: string;
  kind: "payload" | "tag";
  alg: Algorithm;
  entries: Map<string, string>;
  /** Decoded path -> the path as written, for lines whose percent-decoding changed the name. */
  written: Map<string, string>;
}

export async function checkBag(
  c: BagContents,
  mode: ValidationMode,
  onProgress?: (p: HashProgress) => void,
): Promise<BagReport> {
  const errors: BagProblem[] = [];
  const warnings: string[] = [];
  const report: BagReport = {
    valid: false,
    mode,
    errors,
    warnings,
    algorithms: [],
    files: c.payload.size,
    bytes: 0,
    info: [],
    fetch: [],
  };
  const payloadBytes = async (): Promise<number> => {
    await c.settleSizes?.();
    let bytes = 0;
    for (const size of c.payload.values()) bytes += size;
    return bytes;
  };
  // Sizes still being read (see settleSizes) are awaited where they are needed, once the
  // manifests are parsed.

  // bagit.txt: the declaration, strictly.
  const bagitBytes = c.tagFiles.get("bagit.txt");
  if (!bagitBytes) {
    errors.push({
      file: "bagit.txt",
      message: "bagit.txt is missing: this is not a bag (create one with `track-run bag create`)",
    });
    report.bytes = await payloadBytes();
    return report;
  }
  const decl = parseBagitTxt(bagitBytes);
  if (!decl.ok) {
    for (const m of decl.errors) errors.push({ file: "bagit.txt", message: m });
    report.bytes = await payloadBytes();
    return report;
  }
  warnings.push(...decl.warnings);
  const { version, encoding } = decl.value;
  report.version = version;
  const text = (name: string): string | undefined => {
    const b = c.tagFiles.get(name);
    return b === undefined ? undefined : decodeTagFile(b, encoding);
  };

  if (!c.hasPayloadDir) errors.push({ file: "data/", message: "the payload folder data/ is missing" });
  for (const p of c.nonRegular)
    errors.push({ file: p, message: "is a symbolic link or special file; a bag holds regular files only" });

  // bag-info.txt (package-info.txt before 0.96).
  const infoName = c.tagFiles.has("bag-info.txt")
    ? "bag-info.txt"
    : c.tagFiles.has("package-info.txt")
      ? "package-info.txt"
      : undefined;
  if (infoName) {
    const parsed = parseBagInfo(text(infoName)!);
    if (!parsed.ok) for (const m of parsed.errors) errors.push({ file: infoName, message: m });
    else {
      report.info = parsed.value;
      warnings.push(...parsed.warnings);
    }
  } else warnings.push("no bag-info.txt: the bag records no Payload-Oxum or provenance metadata");
  const oxumText = infoValue(report.info, "Payload-Oxum");
  if (oxumText !== undefined) report.declaredOxum = oxumText;
  else if (infoName)
    warnings.push(`${infoName} has no Payload-Oxum, so a fast validation cannot check the payload size`);

  // Manifests.
  const manifests: ParsedManifest[] = [];
  const tagManifests: ParsedManifest[] = [];
  for (const name of [...c.tagFiles.keys()].sort()) {
    if (name.includes("/")) continue;
    const m = manifestAlgorithm(name);
    if (!m) continue;
    if (!isAlgorithm(m.alg)) {
      warnings.push(`${name}: unknown algorithm "${m.alg}", not checked`);
      continue;
    }
    // Each line is checked as it is read (no array of every line); what that finds counts only
    // when the whole manifest parses.
    const collected = entryCollector(name, m.kind, version);
    const parsed = eachManifestEntry(text(name)!, name, collected.add);
    if (parsed.errors.length > 0) {
      for (const e of parsed.errors) errors.push({ file: name, message: e });
      continue;
    }
    const { entries, written } = collected.finish();
    warnings.push(...parsed.warnings, ...collected.warnings);
    errors.push(...collected.errors);
    (m.kind === "payload" ? manifests : tagManifests).push({
      name,
      kind: m.kind,
      alg: m.alg,
      entries,
      written,
    });
  }
  if (manifests.length === 0)
    errors.push({ message: "no payload manifest (manifest-<algorithm>.txt) with a known algorithm" });
  report.algorithms = manifests.map((m) => m.alg);
  if (manifests.length > 0 && manifests.every((m) => WEAK_ALGORITHMS.has(m.alg))) {
    warnings.push(`only ${report.algorithms.join(", ")} checksums: weak algorithms, prefer sha256 or sha512`);
  }

  // fetch.txt.
  const fetchText = text("fetch.txt");
  const fetchPaths = new Set<string>();
  if (fetchText !== undefined) {
    const parsed = parseFetch(fetchText);
    if (!parsed.ok) for (const e of parsed.errors) errors.push({ file: "fetch.txt", message: e });
    else {
      for (const f of parsed.value) {
        const s = safePath(f.path);
        if (!s.ok)
          errors.push({
            file: "fetch.txt",
            message: `line ${f.line}: ${JSON.stringify(f.path)} is refused: ${s.reason}`,
          });
        else if (!isPayloadPath(s.path)) {
          errors.push({
            file: "fetch.txt",
            message: `line ${f.line}: ${JSON.stringify(f.path)} is outside the payload folder data/`,
          });
        } else {
          fetchPaths.add(s.path);
          report.fetch.push({ ...f, path: s.path });
        }
      }
    }
  }

  // bagit-python writes "%" in names unencoded (its issue #157): its line "… data/x%25y.txt" names
  // the file x%25y.txt, which RFC 8493 decoding reads as x%y.txt. When the decoded name is missing
  // and the name as written is there, the line is read literally, with a warning.
  const literal: string[] = [];
  for (const m of [...manifests, ...tagManifests]) {
    const present: { has(path: string): boolean } = m.kind === "payload" ? c.payload : c.tagFiles;
    for (const [path, raw] of m.written) {
      if (present.has(path) || !present.has(raw) || m.entries.has(raw)) continue;
      m.entries.set(raw, m.entries.get(path)!);
      m.entries.delete(path);
      if (!literal.includes(raw)) literal.push(raw);
    }
  }
  if (literal.length > 0)
    warnings.push(
      `${literal.length} name(s) with "%" are listed without percent-encoding, as bagit-python writes them (it does not encode "%" as "%25", its issue #157); read literally: ${literal
        .slice(0, 5)
        .map((p) => JSON.stringify(p))
        .join(", ")}${literal.length > 5 ? ", …" : ""}`,
    );

  // Completeness: every payload file in every manifest, every listed file present.
  for (const m of manifests) {
    for (const path of m.entries.keys()) {
      if (c.payload.has(path)) continue;
      if (fetchPaths.has(path)) {
        errors.push({
          file: path,
          message: `listed in ${m.name} and fetch.txt but not fetched yet: run \`track-run bag fetch\``,
        });
        continue;
      }
      const near = nearMatch(path, c.payload);
      errors.push({
        file: path,
        message: near
          ? `listed in ${m.name} but missing; the bag holds ${JSON.stringify(near)}, which differs only by ${near.normalize("NFC") === path.normalize("NFC") ? `Unicode normalisation (listed as ${normalForm(path)}, on disk as ${normalForm(near)})` : "letter case"} (the same file on macOS or Windows, not on Linux)`
          : `listed in ${m.name} but missing from the bag`,
      });
    }
    for (const path of c.payload.keys()) {
      if (!m.entries.has(path))
        errors.push({ file: path, message: `is in the payload but not listed in ${m.name}` });
    }
  }
  for (const g of normalizationTwins(c.payload.keys())) {
    warnings.push(
      `payload names that differ only by Unicode normalisation (one file on macOS): ${g.map((n) => JSON.stringify(n)).join(", ")}`,
    );
  }

  // Payload-Oxum.
  report.bytes = await payloadBytes();
  const bytes = report.bytes;
  if (oxumText !== undefined) {
    const oxum = parseOxum(oxumText);
    if (!oxum)
      errors.push({
        file: infoName,
        message: `Payload-Oxum ${JSON.stringify(oxumText)} is not "OCTETS.FILES"`,
      });
    else if (fetchPaths.size === 0 && (oxum.bytes !== bytes || oxum.files !== c.payload.size)) {
      errors.push({
        file: infoName,
        message: "Payload-Oxum does not match the payload",
        expected: oxumText,
        actual: `${bytes}.${c.payload.size}`,
      });
    }
  } else if (mode === "fast") {
    errors.push({ message: "--fast needs a Payload-Oxum in bag-info.txt; validate without --fast" });
  }

  // Checksums.
  if (mode === "full") {
    for (const m of tagManifests) {
      for (const [path, expected] of m.entries) {
        const body = c.tagFiles.get(path);
        if (body === undefined) {
          errors.push({ file: path, message: `listed in ${m.name} but missing from the bag` });
          continue;
        }
        const actual = digestBytes(m.alg, body);
        if (actual !== expected)
          errors.push({
            file: path,
            message: `${m.alg} checksum does not match ${m.name}`,
            expected,
            actual,
          });
      }
    }
    const paths = [...c.payload.keys()].filter((p) => manifests.some((m) => m.entries.has(p)));
    const algs = [...new Set(manifests.map((m) => m.alg))];
    const outcome = await c.hashPayload(paths, algs, onProgress);
    for (const path of paths) {
      const o = outcome(path);
      if (!o?.ok) {
        errors.push({ file: path, message: `cannot be read: ${o && !o.ok ? o.message : "no result"}` });
        continue;
      }
      for (const m of manifests) {
        const expected = m.entries.get(path);
        if (expected === undefined) continue;
        const actual = o.digests[m.alg];
        if (actual !== expected)
          errors.push({
            file: path,
            message: `${m.alg} checksum does not match ${m.name}`,
            expected,
            actual: actual ?? "",
          });
      }
    }
  }

  const tm = c.tagFiles.get("tagmanifest-sha256.txt");
  if (tm) report.digest = `sha256:${digestBytes("sha256", tm)}`;
  report.valid = errors.length === 0;
  return report;
}

function normalForm(s: string): string {
  return s === s.normalize("NFC") ? "NFC" : s === s.normalize("NFD") ? "NFD" : "unnormalised";
}

/** Checks each manifest line's path and folds duplicates (an error from 1.0 on, a warning before), line by line. */
function entryCollector(name: string, kind: "payload" | "tag", version: BagVersion) {
  const errors: BagProblem[] = [];
  const warnings: string[] = [];
  const entries = new Map<string, string>();
  /** Decoded path -> the path as written, for lines whose percent-decoding changed the name. */
  const written = new Map<string, string>();
  let dotSlash = 0;
  return {
    errors,
    warnings,
    add(e: ManifestEntry): void {
      const s = safePath(e.path);
      if (!s.ok) {
        errors.push({
          file: name,
          message: `line ${e.line}: ${JSON.stringify(e.path)} is refused: ${s.reason}`,
        });
        return;
      }
      if (s.leadingDotSlash) dotSlash++;
      if (kind === "payload" && !isPayloadPath(s.path)) {
        errors.push({
          file: name,
          message: `line ${e.line}: ${JSON.stringify(e.path)} is outside the payload folder data/`,
        });
        return;
      }
      const prior = entries.get(s.path);
      if (prior !== undefined) {
        if (prior !== e.digest) {
          errors.push({
            file: name,
            message: `line ${e.line}: ${JSON.stringify(s.path)} is listed twice with different checksums`,
          });
        } else if (version === "1.0") {
          errors.push({
            file: name,
            message: `line ${e.line}: ${JSON.stringify(s.path)} is listed twice (RFC 8493 allows one line per file)`,
          });
        } else warnings.push(`${name}: ${JSON.stringify(s.path)} is listed twice with the same checksum`);
        return;
      }
      entries.set(s.path, e.digest);
      if (e.written !== e.path) {
        const w = safePath(e.written);
        if (w.ok && w.path !== s.path) written.set(s.path, w.path);
      }
    },
    finish(): { entries: Map<string, string>; written: Map<string, string> } {
      if (dotSlash > 0) warnings.push(`${name}: ${dotSlash} path(s) start with "./"`);
      return { entries, written };
    },
  };
}
