// What changed between two bags, read from their manifests alone (nothing re-hashed).
import { UsageError } from "../errors.js";
import { safePath } from "./paths.js";
import { locateBag, readBagContents, tagText } from "./read.js";
import {
  type Algorithm,
  type BagInfo,
  isAlgorithm,
  manifestAlgorithm,
  parseBagInfo,
  parseManifest,
} from "./tagfiles.js";

/** Strongest first: the algorithm a diff compares by, when both bags have it. */
const PREFERENCE: Algorithm[] = ["sha512", "sha384", "sha256", "sha224", "sha1", "md5"];

export interface BagDiff {
  algorithm: Algorithm;
  added: string[];
  removed: string[];
  changed: Array<{ path: string; from: string; to: string }>;
  unchanged: number;
  metadata: Array<{ label: string; from: string[]; to: string[] }>;
  identical: boolean;
}

interface ManifestView {
  manifests: Map<Algorithm, Map<string, string>>;
  info: BagInfo;
}

async function view(path: string, label: string): Promise<ManifestView> {
  const contents = await readBagContents(locateBag(path, label), { hash: false });
  if (!contents.tagFiles.has("bagit.txt"))
    throw new UsageError("not-a-bag", `${label} "${path}" is not a bag (no bagit.txt)`);
  const manifests = new Map<Algorithm, Map<string, string>>();
  for (const name of contents.tagFiles.keys()) {
    const m = manifestAlgorithm(name);
    if (m?.kind !== "payload" || !isAlgorithm(m.alg)) continue;
    const parsed = parseManifest(tagText(contents.tagFiles, name)!, name);
    if (!parsed.ok) throw new UsageError("bad-manifest", `${label} "${path}": ${parsed.errors[0]}`);
    const entries = new Map<string, string>();
    for (const e of parsed.value) {
      const s = safePath(e.path);
      if (s.ok) entries.set(s.path, e.digest);
    }
    manifests.set(m.alg, entries);
  }
  const infoText =
    tagText(contents.tagFiles, "bag-info.txt") ?? tagText(contents.tagFiles, "package-info.txt");
  const info =
    infoText === undefined
      ? []
      : (() => {
          const p = parseBagInfo(infoText);
          return p.ok ? p.value : [];
        })();
  return { manifests, info };
}

export async function diffBags(a: string, b: string): Promise<BagDiff> {
  const [va, vb] = await Promise.all([view(a, "A"), view(b, "B")]);
  const algorithm = PREFERENCE.find((alg) => va.manifests.has(alg) && vb.manifests.has(alg));
  if (!algorithm) {
    throw new UsageError(
      "no-common-algorithm",
      `the bags share no checksum algorithm (A: ${[...va.manifests.keys()].join(", ") || "none"}; B: ${[...vb.manifests.keys()].join(", ") || "none"}); re-bag one with the other's algorithm`,
    );
  }
  const ma = va.manifests.get(algorithm)!;
  const mb = vb.manifests.get(algorithm)!;
  const added: string[] = [];
  const removed: string[] = [];
  const changed: BagDiff["changed"] = [];
  let unchanged = 0;
  for (const [p, d] of ma) {
    const other = mb.get(p);
    if (other === undefined) removed.push(p);
    else if (other !== d) changed.push({ path: p, from: d, to: other });
    else unchanged++;
  }
  for (const p of mb.keys()) if (!ma.has(p)) added.push(p);
  const labels = new Set([...va.info.map(([k]) => k), ...vb.info.map(([k]) => k)]);
  const metadata: BagDiff["metadata"] = [];
  for (const label of [...labels].sort()) {
    const from = va.info.filter(([k]) => k === label).map(([, v]) => v);
    const to = vb.info.filter(([k]) => k === label).map(([, v]) => v);
    if (from.join("\n") !== to.join("\n")) metadata.push({ label, from, to });
  }
  const sort = (x: string[]) => x.sort((p, q) => (p < q ? -1 : p > q ? 1 : 0));
  sort(added);
  sort(removed);
  changed.sort((p, q) => (p.path < q.path ? -1 : p.path > q.path ? 1 : 0));
  return {
    algorithm,
    added,
    removed,
    changed,
    unchanged,
    metadata,
    identical: added.length + removed.length + changed.length + metadata.length === 0,
  };
}

export interface PayloadChanges {
  changed: Array<{ path: string; from: string; to: string }>;
  added: string[];
  removed: string[];
}

/** What differs between two payload manifests' texts (sha256 lines): files changed, added, removed. */
export function diffPayloadManifests(recorded: string, current: string | undefined): PayloadChanges {
  const parse = (t: string) => {
    const p = parseManifest(t, "manifest-sha256.txt");
    return new Map(p.ok ? p.value.map((e) => [e.path, e.digest]) : []);
  };
  const a = parse(recorded);
  const b = parse(current ?? "");
  const out: PayloadChanges = { changed: [], added: [], removed: [] };
  for (const [path, d] of a) {
    const now = b.get(path);
    if (now === undefined) out.removed.push(path);
    else if (now !== d) out.changed.push({ path, from: d, to: now });
  }
  for (const path of b.keys()) if (!a.has(path)) out.added.push(path);
  return out;
}
