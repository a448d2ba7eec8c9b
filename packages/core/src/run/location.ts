// Where a bag lives, as the manifest records it: relative to the repository when the bag is
// inside it (so a reproduction finds it in the recorded commit, wherever the checkout is, and a
// later `mv` of the working copy does not matter), absolute otherwise; a URL loses its credentials.
import { isAbsolute, relative, resolve, sep } from "node:path";
import { stripCredentials } from "../util/secrets.js";

const URL_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The recorded location of a bag given as `path`, for a run of the repository at `repo`. */
export function dataLocation(repo: string, path: string): string {
  if (URL_FORM.test(path)) return stripCredentials(path);
  const abs = resolve(path);
  const rel = relative(resolve(repo), abs);
  if (rel === "") return ".";
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return abs;
  return rel.split(sep).join("/");
}

/** A recorded location as a path on this machine: relative ones inside `root`; undefined for a URL. */
export function resolveDataLocation(location: string, root: string): string | undefined {
  if (URL_FORM.test(location)) return undefined;
  return isAbsolute(location) ? location : resolve(root, location);
}
