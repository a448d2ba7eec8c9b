// Holey bags used by a run: their payload is fetched once into a content cache keyed by the bag's
// digest (the sha256 of its tagmanifest-sha256.txt), and every later use validates the cached bag
// in full before trusting it. On GitHub-hosted runners the action persists this folder with
// @actions/cache under the same key.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import { CheckFailedError, UsageError } from "../errors.js";
import { tempSibling } from "./build.js";
import { type FetchOptions, fetchBag } from "./fetch.js";
import { validateBag } from "./validate.js";

export interface Materialized {
  /** The bag to use: the given one, or its complete copy in the cache. */
  path: string;
  source: "as-given" | "cache" | "fetched";
  /** "sha256:…" for holey bags (the cache key), undefined otherwise. */
  digest?: string;
}

/** The digest of a holey bag, read (not validated) from its tag manifest; undefined for anything else. */
export function holeyBagDigest(path: string): string | undefined {
  const root = resolve(path);
  if (!fs.existsSync(join(root, "fetch.txt")) || !fs.existsSync(join(root, "bagit.txt"))) return undefined;
  try {
    return `sha256:${createHash("sha256")
      .update(fs.readFileSync(join(root, "tagmanifest-sha256.txt")))
      .digest("hex")}`;
  } catch {
    throw new UsageError(
      "no-sha256-tagmanifest",
      `holey bag "${path}" has no tagmanifest-sha256.txt, so it cannot be cached or pinned`,
    );
  }
}

export function cachedBagPath(cacheDir: string, digest: string): string {
  return join(cacheDir, "bags", digest.replace(/^sha256:/, ""));
}

/** Makes a holey bag usable: the cached complete copy when valid, else fetched into the cache. */
export async function materializeBag(
  path: string,
  o: { cacheDir: string; fetch?: FetchOptions; onStep?: (m: string) => void },
): Promise<Materialized> {
  const digest = holeyBagDigest(path);
  if (!digest) return { path, source: "as-given" };
  const cached = cachedBagPath(o.cacheDir, digest);
  if (fs.existsSync(cached)) {
    const report = await validateBag(cached);
    if (report.valid && report.digest === digest) return { path: cached, source: "cache", digest };
    o.onStep?.(`the cached copy of ${path} is not valid any more; fetching it again`);
    fs.rmSync(cached, { recursive: true, force: true });
  }
  o.onStep?.(`fetching the payload of holey bag ${path} into the cache`);
  fs.mkdirSync(join(o.cacheDir, "bags"), { recursive: true });
  const staging = tempSibling(cached);
  try {
    // A copy of regular files and folders only: a link in the holey bag could make the fetch
    // below write outside the cache. errorOnExist/force: false: staging is a new folder of our own.
    fs.cpSync(fs.realpathSync(resolve(path)), staging, {
      recursive: true,
      errorOnExist: true,
      force: false,
      filter: (src) => {
        const st = fs.lstatSync(src);
        if (st.isSymbolicLink())
          throw new UsageError(
            "link-in-path",
            `holey bag "${path}" holds a symbolic link (${src}); track-run does not fetch through links: remove it`,
          );
        return true;
      },
    });
    const fetched = await fetchBag(staging, o.fetch ?? {});
    if (fetched.failed.length) {
      throw new CheckFailedError(
        "fetch-failed",
        `holey bag "${path}": ${fetched.failed.length} file(s) could not be fetched`,
        {
          details: fetched.failed.map((f) => `${f.path} from ${f.url}: ${f.error}`),
        },
      );
    }
    const report = await validateBag(staging);
    if (!report.valid) {
      throw new CheckFailedError("bag-invalid", `holey bag "${path}" is not valid once fetched`, {
        details: report.errors.map((e) => (e.file ? `${e.file}: ${e.message}` : e.message)),
      });
    }
    fs.renameSync(staging, cached);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  return { path: cached, source: "fetched", digest };
}
