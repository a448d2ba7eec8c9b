// Manifest paths per RFC 8493 §2.1.3: "/"-separated, relative to the bag, with CR, LF and "%"
// percent-encoded. Paths from a manifest, fetch.txt or a tar entry are untrusted: safePath refuses
// anything that could land outside the bag.

/** Encodes a relative path for a manifest or fetch.txt line. */
export function encodeManifestPath(path: string): string {
  return path.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** Decodes %0D, %0A and %25 (any case); every other "%" sequence is literal, as the RFC leaves it. */
export function decodeManifestPath(path: string): string {
  return path.replace(/%(0[dD]|0[aA]|25)/g, (m) => {
    const code = m.slice(1).toUpperCase();
    return code === "0D" ? "\r" : code === "0A" ? "\n" : "%";
  });
}

export type PathCheck = { ok: true; path: string; leadingDotSlash: boolean } | { ok: false; reason: string };

/**
 * Checks an untrusted relative path and returns it normalised (no leading "./").
 * Refuses absolute paths, "~" home shortcuts, drive letters, backslash separators, empty, "." and
 * ".." components, and NUL.
 */
export function safePath(raw: string): PathCheck {
  if (raw.length === 0) return { ok: false, reason: "empty path" };
  if (raw.includes("\0")) return { ok: false, reason: "path contains a NUL character" };
  if (raw.startsWith("/")) return { ok: false, reason: "absolute path" };
  if (/^[A-Za-z]:/.test(raw)) return { ok: false, reason: "Windows drive path" };
  if (raw.includes("\\"))
    return {
      ok: false,
      reason:
        "backslash in path (a folder separator on Windows: track-run neither makes nor reads such names)",
    };
  if (raw.startsWith("~")) return { ok: false, reason: "home-directory shortcut (~) points outside the bag" };
  let path = raw;
  let leadingDotSlash = false;
  while (path.startsWith("./")) {
    path = path.slice(2);
    leadingDotSlash = true;
  }
  const parts = path.split("/");
  for (const part of parts) {
    if (part === "..") return { ok: false, reason: "path climbs out of the bag (..)" };
    if (part === "." || part === "") return { ok: false, reason: "path has an empty or '.' component" };
  }
  return { ok: true, path, leadingDotSlash };
}

/**
 * Names with a backslash. A bag never holds them (safePath refuses them in every bag read, and
 * bag creation refuses them up front): "\\" separates folders on Windows, so readers disagree on
 * where such a file goes; bagit-python accepts them as plain characters.
 */
export function backslashNames(paths: Iterable<string>): string[] {
  return [...paths].filter((p) => p.includes("\\"));
}

export function backslashRefusal(what: string, count: number): string {
  return `${what} holds ${count} name(s) with a backslash, which a bag cannot hold: "\\" separates folders on Windows, so a bag reader there would put the file elsewhere, and track-run refuses such paths in every bag it reads; rename them`;
}

/**
 * A warning for names with "%": RFC 8493 lists them as "%25", which bagit-python (up to 1.9, its
 * issue #157) does not decode, so it reports such a bag invalid ("data/100%25.txt … not found").
 */
export function percentNamesWarning(paths: Iterable<string>): string | undefined {
  const names = [...paths].filter((p) => p.includes("%"));
  if (names.length === 0) return undefined;
  const shown = names
    .slice(0, 3)
    .map((n) => JSON.stringify(n))
    .join(", ");
  return `${names.length} name(s) with "%" (${shown}${names.length > 3 ? ", …" : ""}) are listed as "%25", as RFC 8493 says; bagit-python does not decode it (its issue #157) and reports the bag invalid: rename them if the bag goes to bagit-python users`;
}

/** True when `path` lies under the payload directory data/. */
export function isPayloadPath(path: string): boolean {
  return path.startsWith("data/") && path.length > 5;
}

/**
 * Groups of distinct names that are equal after Unicode NFC normalisation: on macOS they are one
 * file, on Linux two. Returned groups have two or more members.
 */
export function normalizationTwins(paths: Iterable<string>): string[][] {
  const groups = new Map<string, string[]>();
  for (const p of paths) {
    // Only non-ASCII names can differ by normalisation; skip the rest cheaply.
    if (!/[^\x00-\x7f]/.test(p)) continue;
    const key = p.normalize("NFC");
    const g = groups.get(key);
    if (g) {
      if (!g.includes(p)) g.push(p);
    } else groups.set(key, [p]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/** A file on disk that a missing listed path may have meant: same name after NFC, or after case folding. */
export function nearMatch(missing: string, present: { keys(): Iterable<string> }): string | undefined {
  const nfc = missing.normalize("NFC");
  const lower = nfc.toLowerCase();
  for (const p of present.keys()) {
    if (p === missing) continue;
    const pn = p.normalize("NFC");
    if (pn === nfc || pn.toLowerCase() === lower) return p;
  }
  return undefined;
}
