// Caches across jobs on GitHub-hosted runners (@actions/cache, keyed by content digests): a holey
// bag's fetched payload, and an image pinned by digest. Self-hosted runners keep the same content
// cache folder between jobs, so they need none of this.
import * as fs from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import * as cache from "@actions/cache";
import * as core from "@actions/core";
import { cachedBagPath, holeyBagDigest } from "@track-run/core/bag";
import type { ContainerRuntime } from "@track-run/core/docker";
import type { TrackResult } from "@track-run/core/run";

const bagKey = (digest: string) => `track-run-bag-${digest.replace(/^sha256:/, "")}`;
const imageKey = (digest: string) => `track-run-image-${digest.replace(/^sha256:/, "")}`;
const imageTar = (cacheDir: string, digest: string) =>
  join(cacheDir, "images", `${digest.replace(/^sha256:/, "")}.tar`);

export interface Restored {
  /** Image digests that were absent from the engine before the run. */
  imageAbsent?: string;
}

/** Restores cached bags and the image (when given by digest and absent from the engine). */
export async function restoreCaches(
  cacheDir: string,
  dataPaths: readonly string[],
  image: string | undefined,
  rt: ContainerRuntime | undefined,
): Promise<Restored> {
  const out: Restored = {};
  if (!cache.isFeatureAvailable()) return out;
  for (const path of dataPaths) {
    const digest = holeyBagDigest(path);
    if (!digest) continue;
    const hit = await cache
      .restoreCache([cachedBagPath(cacheDir, digest)], bagKey(digest))
      .catch((e: Error) => {
        core.warning(`restoring ${path} from the Actions cache failed: ${e.message}`);
        return undefined;
      });
    core.info(
      hit
        ? `restored holey bag ${path} (${digest}) from the Actions cache`
        : `holey bag ${path} is not in the Actions cache yet`,
    );
  }
  const digest =
    image && /@sha256:[0-9a-f]{64}$/.test(image) ? image.slice(image.indexOf("@") + 1) : undefined;
  if (digest && rt && !(await rt.inspectImage(image!))) {
    out.imageAbsent = digest;
    const tar = imageTar(cacheDir, digest);
    const hit = await cache.restoreCache([tar], imageKey(digest)).catch(() => undefined);
    if (hit && fs.existsSync(tar)) {
      await rt.client
        .loadImage(fs.createReadStream(tar))
        .then((s) => new Promise((r) => rt.client.modem.followProgress(s, r)));
      core.info(`restored image ${image} from the Actions cache`);
    }
  }
  return out;
}

/** Saves what this job had to fetch or pull, for the next job. */
export async function saveCaches(
  cacheDir: string,
  result: TrackResult,
  restored: Restored,
  rt: ContainerRuntime | undefined,
): Promise<void> {
  if (!cache.isFeatureAvailable()) return;
  for (const d of result.dataSources) {
    if (d.source !== "fetched" || !d.digest) continue;
    await cache.saveCache([cachedBagPath(cacheDir, d.digest)], bagKey(d.digest)).then(
      () => core.info(`saved holey bag ${d.name} (${d.digest}) to the Actions cache`),
      (e: Error) => core.warning(`saving ${d.name} to the Actions cache failed: ${e.message}`),
    );
  }
  const img = result.manifest.environment.image;
  if (
    rt &&
    restored.imageAbsent &&
    img?.repoDigest &&
    !fs.existsSync(imageTar(cacheDir, restored.imageAbsent))
  ) {
    const tar = imageTar(cacheDir, restored.imageAbsent);
    fs.mkdirSync(join(cacheDir, "images"), { recursive: true });
    await pipeline(
      (await rt.client.getImage(img.repoDigest).get()) as NodeJS.ReadableStream,
      fs.createWriteStream(tar),
    );
    await cache.saveCache([tar], imageKey(restored.imageAbsent)).then(
      () => core.info(`saved image ${img.repoDigest} to the Actions cache`),
      (e: Error) => core.warning(`saving the image to the Actions cache failed: ${e.message}`),
    );
  }
}
