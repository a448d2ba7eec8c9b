// The tag files of a bag, built in memory from payload digests: bagit.txt, bag-info.txt,
// manifest-<alg>.txt, fetch.txt and tagmanifest-<alg>.txt. Shared by every way a bag is made.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { partialSibling } from "../util/files.js";
import { writeFileExclusive } from "../util/safe-fs.js";
import { digestBytes } from "./hash.js";
import { payloadIdentity } from "./identity.js";
import { encodeManifestPath } from "./paths.js";
import {
  type Algorithm,
  type BagInfo,
  type FetchEntry,
  formatBagInfo,
  formatBagitTxt,
  formatFetch,
  formatManifest,
  formatOxum,
  infoValue,
} from "./tagfiles.js";

export interface BagSummary {
  /** Where the bag is (absent for a bag computed but not written). */
  path?: string;
  /** "sha256:<hex>" of tagmanifest-sha256.txt: the data pin. Absent when sha256 is not among the algorithms. */
  digest?: string;
  /** "sha256:<hex>" over the sorted payload manifest: the same files however packaged (see identity.ts). Absent without sha256. */
  payloadIdentity?: string;
  payloadOxum: string;
  files: number;
  bytes: number;
  algorithms: Algorithm[];
  warnings: string[];
}

/** A payload as rows, in any order: row i is the file `path(i)` ("data/…") with its digests. */
export interface PayloadRows {
  count: number;
  path(i: number): string;
  digest(i: number, alg: Algorithm): string | undefined;
}

export interface TagFileInput {
  /** data/… path -> digests by algorithm, or the same as rows (no object per file). */
  payload: ReadonlyMap<string, Partial<Record<Algorithm, string>>> | PayloadRows;
  bytes: number;
  algorithms: readonly Algorithm[];
  /** bag-info.txt labels in order; Payload-Oxum is set (replaced) from the payload. */
  info: BagInfo;
  fetch?: ReadonlyArray<Omit<FetchEntry, "line">>;
}

function rowsOf(payload: TagFileInput["payload"]): PayloadRows {
  if (!(payload instanceof Map)) return payload as PayloadRows;
  const paths = [...payload.keys()];
  const digests = [...payload.values()];
  return { count: paths.length, path: (i) => paths[i]!, digest: (i, alg) => digests[i]![alg] };
}

/** A UTF-16 surrogate (a character beyond U+FFFF), or a character a manifest path encodes. */
const NOT_PLAIN = /[\uD800-\uDFFF%\r\n]/;

/**
 * A payload manifest (lines sorted by path, as formatManifest writes them), built as one buffer
 * from 64 KiB pieces: no line object or line string is kept per file.
 */
function payloadManifest(
  rows: PayloadRows,
  paths: readonly string[],
  order: readonly number[],
  alg: Algorithm,
): Buffer {
  const pieces: Buffer[] = [];
  let chunk = "";
  for (const i of order) {
    const digest = rows.digest(i, alg);
    if (!digest) throw new Error(`internal: no ${alg} digest for ${paths[i]}`);
    chunk += `${digest}  ${encodeManifestPath(paths[i]!)}\n`;
    if (chunk.length >= 65536) {
      pieces.push(Buffer.from(chunk));
      chunk = "";
    }
  }
  pieces.push(Buffer.from(chunk));
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

export function buildTagFiles(input: TagFileInput): {
  files: Map<string, Buffer>;
  summary: Omit<BagSummary, "warnings">;
} {
  const files = new Map<string, Buffer>();
  const rows = rowsOf(input.payload);
  const oxum = formatOxum(input.bytes, rows.count);
  const info: BagInfo = input.info
    .filter(([k]) => k.toLowerCase() !== "payload-oxum")
    .map(([k, v]) => [k, v]);
  info.push(["Payload-Oxum", oxum]);
  files.set("bagit.txt", Buffer.from(formatBagitTxt("1.0")));
  files.set("bag-info.txt", Buffer.from(formatBagInfo(info)));
  // Sorted by path as strings, as formatManifest sorts.
  const order = Array.from({ length: rows.count }, (_, i) => i);
  const paths = order.map((i) => rows.path(i));
  order.sort((a, b) => (paths[a]! < paths[b]! ? -1 : paths[a]! > paths[b]! ? 1 : 0));
  // Plain paths (nothing percent-encoded, nothing beyond U+FFFF): the manifest's lines are the
  // payload identity's lines in its order, so the identity is the manifest's sha256.
  const plain = !paths.some((p) => NOT_PLAIN.test(p));
  for (const alg of input.algorithms)
    files.set(`manifest-${alg}.txt`, payloadManifest(rows, paths, order, alg));
  if (input.fetch && input.fetch.length > 0) files.set("fetch.txt", Buffer.from(formatFetch(input.fetch)));
  const tagNames = [...files.keys()];
  let digest: string | undefined;
  for (const alg of input.algorithms) {
    const body = formatManifest(
      tagNames.map((name) => ({ path: name, digest: digestBytes(alg, files.get(name)!) })),
    );
    files.set(`tagmanifest-${alg}.txt`, Buffer.from(body));
    if (alg === "sha256") digest = `sha256:${digestBytes("sha256", body)}`;
  }
  const manifest = files.get("manifest-sha256.txt");
  return {
    files,
    summary: {
      ...(digest ? { digest } : {}),
      ...(manifest
        ? {
            payloadIdentity: plain
              ? `sha256:${digestBytes("sha256", manifest)}`
              : payloadIdentity(manifest.toString("utf8")),
          }
        : {}),
      payloadOxum: oxum,
      files: rows.count,
      bytes: input.bytes,
      algorithms: [...input.algorithms],
    },
  };
}

/** bag-info.txt for a new bag: the user's labels in their order, then what track-run records unless given. */
export function newBagInfo(user: BagInfo, options: { softwareAgent: string; date?: Date }): BagInfo {
  const info: BagInfo = user.map(([k, v]) => [k, v]);
  if (options.date && infoValue(info, "Bagging-Date") === undefined) {
    info.push(["Bagging-Date", options.date.toISOString().slice(0, 10)]);
  }
  if (infoValue(info, "Bag-Software-Agent") === undefined)
    info.push(["Bag-Software-Agent", options.softwareAgent]);
  return info;
}

/**
 * Writes a file by a temporary name (created exclusively, never through a link) and renames it
 * into place (a rename replaces a link at `path`, never writes through it).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  writeFileExclusive(tmp, data);
  try {
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** A sibling temporary folder for building `target`, renamed into place when complete. */
export function tempSibling(target: string): string {
  // `.NAME.PID.RANDOM.partial`: leftovers of killed processes in that folder are removed first.
  return partialSibling(target);
}
