// Data identity beside the bag digest. The bag digest (sha256 of tagmanifest-sha256.txt) covers a
// bag's metadata too (bag-info.txt, fetch.txt), so the same files as a plain folder, a bag, a holey
// bag or a tar get different digests. The payload identity names the files alone:
//
//   "sha256:" + sha256( for each payload file, sorted by path: "<sha256 hex>  <path>\n" )
//
// with the path as manifest-sha256.txt writes it (`data/…`, "%", CR and LF percent-encoded), the hex
// in lower case, in UTF-8, sorted by the path's UTF-8 bytes. A run's outputs get the same identity
// as a bag made from its outputs folder: each output is the line of `data/<path>`.
import { createHash } from "node:crypto";
import { encodeManifestPath } from "./paths.js";
import { forEachLine } from "./tagfiles.js";

/** A UTF-16 surrogate: a character beyond U+FFFF, where UTF-16 order and UTF-8 byte order part. */
const SURROGATE = /[\uD800-\uDFFF]/;

/** The identity of payload files given as two columns: manifest paths (`data/…`, encoded) and sha256 hex. */
function identityOf(paths: readonly string[], sums: readonly string[]): string {
  // Sorted by the paths' UTF-8 bytes. Without surrogates UTF-16 order is that order, so the paths
  // compare as strings and only a manifest with characters beyond U+FFFF has its paths encoded.
  const order = paths.map((_, i) => i);
  if (paths.some((p) => SURROGATE.test(p))) {
    const keys = paths.map((p) => Buffer.from(p, "utf8"));
    order.sort((a, b) => Buffer.compare(keys[a]!, keys[b]!));
  } else
    order.sort((a, b) => {
      const x = paths[a]!;
      const y = paths[b]!;
      return x < y ? -1 : x > y ? 1 : 0;
    });
  const hash = createHash("sha256");
  let chunk = "";
  for (const i of order) {
    chunk += `${sums[i]!.toLowerCase()}  ${paths[i]}\n`;
    if (chunk.length >= 65536) {
      hash.update(chunk, "utf8");
      chunk = "";
    }
  }
  hash.update(chunk, "utf8");
  return `sha256:${hash.digest("hex")}`;
}

/**
 * The payload identity of a bag from its payload manifest (manifest-sha256.txt): lines normalised
 * (one space pair between digest and path, lower-case hex, no CR, no md5sum "*" mark, no blank
 * lines) and sorted by path. Throws on a line that is not "CHECKSUM PATH".
 */
export function payloadIdentity(manifestText: string): string {
  const paths: string[] = [];
  const sums: string[] = [];
  forEachLine(manifestText, (line, number) => {
    if (line.trim() === "") return;
    const m = /^([0-9A-Fa-f]{64})[ \t]+\*?(.+)$/.exec(line);
    if (!m) throw new Error(`manifest-sha256.txt line ${number} is not "SHA256 PATH"`);
    sums.push(m[1]!);
    paths.push(m[2]!);
  });
  return identityOf(paths, sums);
}

/** The identity of a set of outputs (paths relative to the outputs folder): that of a bag of that folder. */
export function outputsIdentity(outputs: ReadonlyArray<{ path: string; sha256: string }>): string {
  return identityOf(
    outputs.map((o) => `data/${encodeManifestPath(o.path)}`),
    outputs.map((o) => o.sha256),
  );
}

/**
 * The identity of every folder of a run's outputs that holds files, by its path relative to the
 * outputs folder ("" for the whole set): the identity a bag made from that sub-folder would have.
 */
export function outputFolderIdentities(
  outputs: ReadonlyArray<{ path: string; sha256: string }>,
): Map<string, string> {
  const byFolder = new Map<string, Array<{ path: string; sha256: string }>>();
  for (const o of outputs) {
    const parts = o.path.split("/");
    for (let depth = 0; depth < parts.length; depth++) {
      const folder = parts.slice(0, depth).join("/");
      const rest = parts.slice(depth).join("/");
      const list = byFolder.get(folder) ?? [];
      byFolder.set(folder, list);
      list.push({ path: rest, sha256: o.sha256 });
    }
  }
  const out = new Map<string, string>();
  for (const [folder, list] of byFolder) out.set(folder, outputsIdentity(list));
  return out;
}
