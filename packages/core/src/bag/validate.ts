import { type BagReport, checkBag, type ValidationMode } from "./check.js";
import type { HashProgress } from "./hash.js";
import { locateBag, readBagContents } from "./read.js";

export interface ValidateOptions {
  mode?: ValidationMode;
  onProgress?: (p: HashProgress) => void;
}

/** Validates a bag folder, .tar or .tar.gz. Unreadable input throws a UsageError; an invalid bag is a report with valid: false. */
export async function validateBag(path: string, options: ValidateOptions = {}): Promise<BagReport> {
  const mode = options.mode ?? "full";
  // A full validation reads every payload file: a folder's are hashed while it is walked.
  const contents = await readBagContents(locateBag(path), {
    ...(mode === "full" ? { prehash: true } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  try {
    return await checkBag(contents, mode, options.onProgress);
  } finally {
    await contents.release?.();
  }
}
