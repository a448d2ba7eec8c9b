// Where a bag lives, as the manifest records it: relative to the repository when the bag is
// inside it (so a reproduction finds it in the recorded commit, wherever the checkout is, and a
// later `mv` of the working copy does not matter); for a holey bag outside it, the URL its payload
// is fetched from; else the absolute path. A URL loses its credentials.
import * as fs from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { parseFetch } from "../bag/tagfiles.js";
import { stripCredentials } from "../util/secrets.js";

const URL_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The recorded location of a bag given as `path` (`holey`: its payload is fetched), for a run of the repository at `repo`. */
export function dataLocation(repo: string, path: string, holey = false): string {
  if (URL_FORM.test(path)) return stripCredentials(path);
  const abs = resolve(path);
  const rel = relative(resolve(repo), abs);
  if (rel === "") return ".";
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    return (holey ? fetchBase(abs) : undefined) ?? abs;
  return rel.split(sep).join("/");
}

/** The URL a holey bag's payload comes from: the longest folder URL every fetch.txt entry lies under. */
export function fetchBase(bag: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(join(bag, "fetch.txt"), "utf8");
  } catch {
    return undefined;
  }
  const parsed = parseFetch(text);
  if (!parsed.ok || parsed.value.length === 0) return undefined;
  const urls = parsed.value.map((e) => stripCredentials(e.url).replace(/[?#].*$/, ""));
  let base = urls[0]!.slice(0, urls[0]!.lastIndexOf("/") + 1);
  for (const u of urls)
    while (!u.startsWith(base)) base = base.slice(0, base.lastIndexOf("/", base.length - 2) + 1);
  return /^[a-z][a-z0-9+.-]*:\/\/[^/]+\//i.test(base) ? base : undefined;
}

/** A recorded location as a path on this machine: relative ones inside `root`; undefined for a URL. */
export function resolveDataLocation(location: string, root: string): string | undefined {
  if (URL_FORM.test(location)) return undefined;
  return isAbsolute(location) ? location : resolve(root, location);
}
