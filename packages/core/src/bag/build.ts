// The tag files of a bag, built in memory from payload digests: bagit.txt, bag-info.txt,
// manifest-<alg>.txt, fetch.txt and tagmanifest-<alg>.txt. Shared by every way a bag is made.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { partialSibling } from "../util/files.js";
import { writeFileExclusive } from "../util/safe-fs.js";
import { digestBytes } from "./hash.js";
import { payloadIdentity } from "./identity.js";
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

export interface TagFileInput {
  /** data/… path -> digests by algorithm. */
  payload: ReadonlyMap<string, Partial<Record<Algorithm, string>>>;
  bytes: number;
  algorithms: readonly Algorithm[];
  /** bag-info.txt labels in order; Payload-Oxum is set (replaced) from the payload. */
  info: BagInfo;
  fetch?: ReadonlyArray<Omit<FetchEntry, "line">>;
}

export function buildTagFiles(input: TagFileInput): {
  files: Map<string, Buffer>;
  summary: Omit<BagSummary, "warnings">;
} {
  const files = new Map<string, Buffer>();
  const oxum = formatOxum(input.bytes, input.payload.size);
  const info: BagInfo = input.info
    .filter(([k]) => k.toLowerCase() !== "payload-oxum")
    .map(([k, v]) => [k, v]);
  info.push(["Payload-Oxum", oxum]);
  files.set("bagit.txt", Buffer.from(formatBagitTxt("1.0")));
  files.set("bag-info.txt", Buffer.from(formatBagInfo(info)));
  for (const alg of input.algorithms) {
    const entries: Array<{ path: string; digest: string }> = [];
    for (const [path, d] of input.payload) {
      const digest = d[alg];
      if (!digest) throw new Error(`internal: no ${alg} digest for ${path}`);
      entries.push({ path, digest });
    }
    files.set(`manifest-${alg}.txt`, Buffer.from(formatManifest(entries)));
  }
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
  return {
    files,
    summary: {
      ...(digest ? { digest } : {}),
      ...(files.has("manifest-sha256.txt")
        ? { payloadIdentity: payloadIdentity(files.get("manifest-sha256.txt")!.toString("utf8")) }
        : {}),
      payloadOxum: oxum,
      files: input.payload.size,
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
