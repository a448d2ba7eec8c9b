// The Library of Congress BagIt conformance suite, read in place (never written to).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateBag } from "../../src/index.js";

// ../shared/conformance beside the repository (where CI puts it), or $TRACK_RUN_CONFORMANCE.
const suite = process.env.TRACK_RUN_CONFORMANCE
  ? join(process.env.TRACK_RUN_CONFORMANCE, "bagit")
  : new URL("../../../../../shared/conformance/bagit/", import.meta.url).pathname;
const present = existsSync(suite);

/** Cases the suite's README says may be rejected as incomplete on Linux, if the message names what was found. */
const INCOMPLETE_ON_LINUX: Record<string, RegExp> = {
  "duplicate-file-with-different-case": /data\/HELLO\.txt.*data\/hello\.txt.*letter case/,
  "same-filename-listed-twice-with-different-normalization":
    /Unicode normalisation \(listed as NFD, on disk as NFC\)/,
  "special-system-files": /data\/\.DS_Store.*missing/,
};

/** Why each invalid bag is invalid: the report must say so, not fail for some other reason. */
const REASONS: Record<string, RegExp> = {
  "baginfo-missing-encoding": /Tag-File-Character-Encoding/,
  "bom-in-bagit.txt": /byte-order mark/,
  "corrupt-data-file": /data\/bare-filename: md5 checksum does not match/,
  "corrupt-tag-file": /bagit\.txt: md5 checksum does not match tagmanifest-md5\.txt/,
  "extra-file-in-bag": /data\/bar: is in the payload but not listed/,
  "invalid-version-number": /BagIt-Version: M\.N.*\.97/,
  "missing-baginfo": /bag-info\.txt: listed in tagmanifest-md5\.txt but missing/,
  "missing-bagit.txt": /bagit\.txt is missing/,
  "out-of-scope-file-paths-using-dot-notation": /\.\.\/\.\.\/\.\.\/README\.md.*climbs out/,
  "out-of-scope-file-paths-using-dot-notation-for-fetch": /fetch\.txt: .*climbs out/,
  "same-filename-listed-twice-with-different-hashes": /listed twice with different checksums/,
  "same-filename-listed-twice-with-the-same-hash": /listed twice \(RFC 8493/,
  "bagit-with-invalid-whitespace": /"BagIt-Version : 1\.0"/,
  notAllManifestsListAllFiles: /data\/missingFromManifest\.txt: is in the payload but not listed/,
  "out-of-scope-file-paths-using-absolute-path": /\/tmp\/foo.*absolute path/,
  "out-of-scope-file-paths-using-absolute-path-for-fetch": /fetch\.txt: .*\/tmp\/test\.txt.*absolute path/,
  "out-of-scope-file-paths-using-shortcut": /~\/foo.*home-directory/,
  "out-of-scope-file-paths-using-shortcut-for-fetch": /fetch\.txt: .*~\/test\.txt.*home-directory/,
  "out-of-scope-file-paths-using-shortcut-username": /~root\/foo.*home-directory/,
  "out-of-scope-file-paths-using-shortcut-username-for-fetch": /fetch\.txt: .*~root\/foo.*home-directory/,
};

function cases(): Array<{ version: string; folder: string; name: string; path: string }> {
  const out: Array<{ version: string; folder: string; name: string; path: string }> = [];
  for (const version of readdirSync(suite)
    .filter((v) => v.startsWith("v"))
    .sort()) {
    for (const folder of ["valid", "invalid", "warning", "linux-only"]) {
      const dir = join(suite, version, folder);
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir).sort()) out.push({ version, folder, name, path: join(dir, name) });
    }
  }
  return out;
}

// In CI the suite must be there: a missing suite fails rather than silently skipping.
it.runIf(!present && process.env.CI === "true")("finds the conformance suite", () => {
  expect(present, `no BagIt conformance suite at ${suite}`).toBe(true);
});

describe.skipIf(!present)("BagIt conformance suite", () => {
  const all = present ? cases() : [];

  it("has the suite's cases to check", () => {
    const count = (folder: string) => all.filter((c) => c.folder === folder).length;
    // 27 valid, 15 invalid, 6 warning, 6 linux-only in the suite as shipped (windows-only not run on Linux).
    expect({
      valid: count("valid"),
      invalid: count("invalid"),
      warning: count("warning"),
      linuxOnly: count("linux-only"),
    }).toEqual({
      valid: 27,
      invalid: 15,
      warning: 6,
      linuxOnly: 6,
    });
  });

  it.each(all)("$version/$folder/$name", async (c) => {
    const report = await validateBag(c.path);
    const messages = report.errors.map((e) => `${e.file ?? ""}: ${e.message}`).join("\n");
    switch (c.folder) {
      case "valid":
        expect(messages).toBe("");
        expect(report.valid).toBe(true);
        break;
      case "invalid":
      case "linux-only":
        expect(report.valid).toBe(false);
        expect(REASONS[c.name], `no expected reason recorded for ${c.name}`).toBeDefined();
        expect(messages).toMatch(REASONS[c.name]!);
        break;
      case "warning": {
        const incomplete = INCOMPLETE_ON_LINUX[c.name];
        if (incomplete && !report.valid) expect(messages).toMatch(incomplete);
        else {
          expect(messages).toBe("");
          expect(report.warnings.length).toBeGreaterThan(0);
        }
        break;
      }
    }
  });
});
