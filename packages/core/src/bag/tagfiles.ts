// Reading and writing BagIt tag files (RFC 8493 §2.1.1, §2.2.2, §2.1.3, §2.2.3) in the encodings
// found in real bags: UTF-8, UTF-16 with a byte-order mark, and ISO-8859-1.
import { decodeManifestPath, encodeManifestPath } from "./paths.js";

export const SUPPORTED_VERSIONS = ["0.93", "0.94", "0.95", "0.96", "0.97", "1.0"] as const;
export type BagVersion = (typeof SUPPORTED_VERSIONS)[number];

export const ALGORITHMS = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
export const DIGEST_HEX_LENGTH: Record<Algorithm, number> = {
  md5: 32,
  sha1: 40,
  sha224: 56,
  sha256: 64,
  sha384: 96,
  sha512: 128,
};
export const WEAK_ALGORITHMS: ReadonlySet<Algorithm> = new Set(["md5", "sha1"]);

export function isAlgorithm(s: string): s is Algorithm {
  return (ALGORITHMS as readonly string[]).includes(s);
}

/** Splits text into lines on LF, CRLF or CR, without a trailing empty line. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Decodes tag-file bytes with the bag's declared encoding. */
export function decodeTagFile(bytes: Uint8Array, encoding: string): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const enc = encoding.trim().toUpperCase().replace(/_/g, "-");
  if (enc === "UTF-16" || enc === "UTF-16LE" || enc === "UTF-16BE") {
    if (buf[0] === 0xfe && buf[1] === 0xff) return new TextDecoder("utf-16be").decode(buf.subarray(2));
    if (buf[0] === 0xff && buf[1] === 0xfe) return new TextDecoder("utf-16le").decode(buf.subarray(2));
    return new TextDecoder(enc === "UTF-16LE" ? "utf-16le" : "utf-16be").decode(buf);
  }
  if (enc === "ISO-8859-1" || enc === "LATIN1" || enc === "LATIN-1" || enc === "US-ASCII")
    return buf.toString("latin1");
  // UTF-8: drop a byte-order mark (bagit.txt's own BOM is refused by parseBagitTxt before this).
  const text = buf.toString("utf8");
  return text.startsWith("\ufeff") ? text.slice(1) : text;
}

export interface BagitDeclaration {
  version: BagVersion;
  encoding: string;
}

export type Parsed<T> = { ok: true; value: T; warnings: string[] } | { ok: false; errors: string[] };

/** Parses bagit.txt strictly: no BOM, exactly the two declarations, "Label: value" with one space. */
export function parseBagitTxt(bytes: Uint8Array): Parsed<BagitDeclaration> {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { ok: false, errors: ["bagit.txt starts with a byte-order mark, which RFC 8493 forbids"] };
  }
  const lines = splitLines(Buffer.from(bytes).toString("utf8"));
  const errors: string[] = [];
  const warnings: string[] = [];
  const v = /^BagIt-Version: ([0-9]+\.[0-9]+)( *)$/.exec(lines[0] ?? "");
  const e = /^Tag-File-Character-Encoding: (\S.*?)( *)$/.exec(lines[1] ?? "");
  if (!v) {
    errors.push(
      `bagit.txt line 1 must be "BagIt-Version: M.N", found ${JSON.stringify(lines[0] ?? "(nothing)")}`,
    );
  } else if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v[1]!)) {
    errors.push(
      `bagit.txt declares BagIt-Version ${v[1]}, which is not one of ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  } else if (v[2]) warnings.push("bagit.txt has trailing spaces after the version");
  if (!e) {
    errors.push(
      `bagit.txt line 2 must be "Tag-File-Character-Encoding: ENCODING", found ${JSON.stringify(lines[1] ?? "(nothing)")}`,
    );
  }
  if (lines.length > 2 && lines.slice(2).some((l) => l.trim() !== ""))
    errors.push("bagit.txt has lines after the two declarations");
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { version: v![1] as BagVersion, encoding: e![1]! }, warnings };
}

export function formatBagitTxt(version: BagVersion = "1.0"): string {
  return `BagIt-Version: ${version}\nTag-File-Character-Encoding: UTF-8\n`;
}

/** bag-info.txt: labelled values in file order; a label may repeat; continuation lines start with whitespace. */
export type BagInfo = Array<[label: string, value: string]>;

export function parseBagInfo(text: string): Parsed<BagInfo> {
  const info: BagInfo = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const lines = splitLines(text);
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    if (/^[ \t]/.test(line)) {
      const last = info[info.length - 1];
      if (last) last[1] = `${last[1]} ${line.trim()}`;
      else errors.push(`bag-info.txt line ${i + 1} continues a value but no label comes before it`);
      return;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      errors.push(`bag-info.txt line ${i + 1} is not "Label: value": ${JSON.stringify(line)}`);
      return;
    }
    const rawLabel = line.slice(0, colon);
    const label = rawLabel.trim();
    if (label !== rawLabel)
      warnings.push(`bag-info.txt line ${i + 1}: whitespace around the label "${label}"`);
    info.push([label, line.slice(colon + 1).trim()]);
  });
  return errors.length ? { ok: false, errors } : { ok: true, value: info, warnings };
}

export function formatBagInfo(info: BagInfo): string {
  return info.map(([k, v]) => `${k}: ${v}\n`).join("");
}

export function infoValue(info: BagInfo, label: string): string | undefined {
  const l = label.toLowerCase();
  return info.find(([k]) => k.toLowerCase() === l)?.[1];
}

export interface ManifestEntry {
  /** Decoded path relative to the bag, as written (a leading "./" kept; see safePath). */
  path: string;
  /** The path as the line has it, before percent-decoding. */
  written: string;
  /** Lower-case hex digest. */
  digest: string;
  line: number;
}

/**
 * Calls `visit` with each line of `text` and its number (from 1), split as splitLines splits (LF,
 * CRLF or CR; no trailing empty line), without an array of every line.
 */
export function forEachLine(text: string, visit: (line: string, number: number) => void): void {
  const n = text.length;
  let i = 0;
  let number = 0;
  while (i < n) {
    let j = i;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 10 || c === 13) break;
      j++;
    }
    visit(text.slice(i, j), ++number);
    i = j < n && text.charCodeAt(j) === 13 && text.charCodeAt(j + 1) === 10 ? j + 2 : j + 1;
  }
}

/**
 * Reads manifest lines "CHECKSUM<whitespace>PATH" one by one (a "*" before the path, md5sum's
 * binary mark, is noted): `visit` is told of each entry, nothing is kept per line.
 */
export function eachManifestEntry(
  text: string,
  name: string,
  visit: (e: ManifestEntry) => void,
): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  let starred = 0;
  forEachLine(text, (line, number) => {
    if (line.trim() === "") return;
    const m = /^([0-9A-Fa-f]+)[ \t]+(\*?)(.+)$/.exec(line);
    if (!m) {
      errors.push(`${name} line ${number} is not "CHECKSUM PATH": ${JSON.stringify(line)}`);
      return;
    }
    if (m[2]) starred++;
    // Lower-cased only when it has capitals: the digest then stays a slice of the text, no copy.
    const digest = m[1]!;
    visit({
      digest: /[A-F]/.test(digest) ? digest.toLowerCase() : digest,
      path: decodeManifestPath(m[3]!),
      written: m[3]!,
      line: number,
    });
  });
  if (starred)
    warnings.push(`${name}: ${starred} line(s) mark the path with "*" (made with md5sum-style tools)`);
  return { errors, warnings };
}

/** Parses manifest lines "CHECKSUM<whitespace>PATH"; a "*" before the path (md5sum's binary mark) is noted. */
export function parseManifest(text: string, name: string): Parsed<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  const { errors, warnings } = eachManifestEntry(text, name, (e) => {
    entries.push(e);
  });
  return errors.length ? { ok: false, errors } : { ok: true, value: entries, warnings };
}

export function formatManifest(entries: Iterable<{ path: string; digest: string }>): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sorted.map((e) => `${e.digest}  ${encodeManifestPath(e.path)}\n`).join("");
}

export interface FetchEntry {
  url: string;
  /** Byte length, or undefined for "-". */
  length: number | undefined;
  path: string;
  line: number;
}

export function parseFetch(text: string): Parsed<FetchEntry[]> {
  const entries: FetchEntry[] = [];
  const errors: string[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === "") return;
    const m = /^(\S+)[ \t]+(\d+|-)[ \t]+(.+)$/.exec(line);
    if (!m) {
      errors.push(`fetch.txt line ${i + 1} is not "URL LENGTH PATH": ${JSON.stringify(line)}`);
      return;
    }
    let url: URL;
    try {
      url = new URL(m[1]!);
    } catch {
      errors.push(`fetch.txt line ${i + 1}: ${JSON.stringify(m[1])} is not an absolute URL`);
      return;
    }
    entries.push({
      url: url.href,
      length: m[2] === "-" ? undefined : Number(m[2]),
      path: decodeManifestPath(m[3]!),
      line: i + 1,
    });
  });
  return errors.length ? { ok: false, errors } : { ok: true, value: entries, warnings: [] };
}

export function formatFetch(
  entries: Iterable<{ url: string; length: number | undefined; path: string }>,
): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sorted.map((e) => `${e.url} ${e.length ?? "-"} ${encodeManifestPath(e.path)}\n`).join("");
}

/** manifest-sha256.txt -> "sha256"; tagmanifest-… likewise. */
export function manifestAlgorithm(fileName: string): { kind: "payload" | "tag"; alg: string } | undefined {
  const m = /^(tag)?manifest-([A-Za-z0-9]+)\.txt$/.exec(fileName);
  return m ? { kind: m[1] ? "tag" : "payload", alg: m[2]!.toLowerCase() } : undefined;
}

/** Payload-Oxum "OCTETS.FILES". */
export function parseOxum(value: string): { bytes: number; files: number } | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(value.trim());
  return m ? { bytes: Number(m[1]), files: Number(m[2]) } : undefined;
}

export function formatOxum(bytes: number, files: number): string {
  return `${bytes}.${files}`;
}
