// Plain data folders are kept in the content cache by digest, as holey bags are: a run's data can
// then be found for a reproduction after the folder moved or changed. The copy is the folder's
// canonical bag (the same bag `pin data --out` writes), so its digest is the run's data pin.
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { tempSibling } from "./build.js";
import { createBag } from "./create.js";
import { cachedBagPath } from "./materialize.js";
import { CANONICAL_AGENT } from "./pin.js";

/**
 * Copies `folder` (a plain folder pinned as `digest`) into the cache as its canonical bag, unless a
 * copy is there already. Returns the copy's path, or undefined when the copy did not give the same
 * digest (the folder changed while it was copied): the cache then keeps nothing.
 */
export async function keepInCache(
  folder: string,
  digest: string,
  cacheDir: string,
): Promise<string | undefined> {
  const dest = cachedBagPath(cacheDir, digest);
  if (fs.existsSync(join(dest, "bagit.txt"))) return dest;
  fs.mkdirSync(dirname(dest), { recursive: true });
  // `.NAME.PID.RANDOM.partial`: what a killed run left here is removed by the next one.
  const tmp = tempSibling(dest);
  try {
    const bag = await createBag(folder, tmp, { softwareAgent: CANONICAL_AGENT, noDate: true });
    if (bag.digest !== digest) return undefined;
    try {
      fs.renameSync(tmp, dest);
    } catch (e) {
      // Another run kept the same data first.
      if (!fs.existsSync(join(dest, "bagit.txt"))) throw e;
    }
    return dest;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
