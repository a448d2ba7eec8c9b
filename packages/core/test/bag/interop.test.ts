// Interoperability with bagit-python, the Library of Congress reference implementation of BagIt,
// run in place from ../shared/peers/bagit-python (never written to): bags made by one are
// validated by the other, with the names where the two could disagree, several algorithms, a
// `bag tar` extracted by GNU tar, and a flipped byte that both must refuse.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { type Algorithm, createBag, tarBag, validateBag } from "../../src/index.js";
import { failure, tempDir, writeTree } from "../helpers.js";

const repoRoot = new URL("../../../../", import.meta.url).pathname;
const peer = resolve(repoRoot, "../shared/peers/bagit-python");
const bagitSh = join(peer, "bagit.sh");
const peerEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
const peerRuns =
  existsSync(bagitSh) && spawnSync("bash", [bagitSh, "--version"], { env: peerEnv }).status === 0;

/** Runs bagit-python; `ok` is its exit status 0, `log` what it printed. */
function bagitPython(...args: string[]): { ok: boolean; log: string } {
  const r = spawnSync("bash", [bagitSh, ...args], { encoding: "utf8", env: peerEnv });
  return { ok: r.status === 0, log: `${r.stdout}${r.stderr}` };
}

/** Names both implementations must agree on. */
const FILES: Record<string, string | Buffer> = {
  "plain.csv": "a,b\n1,2\n",
  "with space.txt": "space\n",
  "unicode é ü.txt": "é ü\n",
  "sub/dir/nested.bin": Buffer.from([0, 1, 2, 3, 254, 255]),
};

function source(extra: Record<string, string> = {}): string {
  const dir = join(tempDir(), "src");
  mkdirSync(dir);
  writeTree(dir, { ...FILES, ...extra });
  return dir;
}

/** A bag made by bagit-python in place, with the given checksum flags. */
function peerBag(flags: string[], extra: Record<string, string> = {}): string {
  const dir = source(extra);
  const made = bagitPython(...flags, dir);
  expect(made.ok, made.log).toBe(true);
  return dir;
}

/** Flips the first byte of a file (same size, so the Payload-Oxum still matches). */
function flipByte(path: string): void {
  const b = readFileSync(path);
  b[0] = b[0]! ^ 0xff;
  writeFileSync(path, b);
}

// In CI the peer must be there: a missing peer fails rather than silently skipping.
it.runIf(!peerRuns && process.env.CI === "true")("finds bagit-python in ../shared/peers", () => {
  expect(peerRuns, `bagit-python did not run from ${bagitSh}`).toBe(true);
});

describe.skipIf(!peerRuns)("bagit-python interop", () => {
  describe("track-run makes, bagit-python validates", () => {
    it.each<[Algorithm[]]>([
      [["sha256"]],
      [["sha512"]],
      [["sha256", "sha512"]],
    ])("with %j", async (algorithms) => {
      const bag = join(tempDir(), "bag");
      await createBag(source(), bag, { algorithms });
      const r = bagitPython("--validate", bag);
      expect(r.ok, r.log).toBe(true);
      expect(r.log).toMatch(/is valid/);
    });

    it("a name with % is listed as %25 (RFC 8493), which bagit-python does not decode: track-run says so when it makes the bag", async () => {
      const bag = join(tempDir(), "bag");
      const made = await createBag(source({ "100%.txt": "full\n" }), bag);
      expect(made.warnings.join("\n")).toMatch(/"100%\.txt".*%25.*bagit-python.*#157/);
      expect(readFileSync(join(bag, "manifest-sha256.txt"), "utf8")).toMatch(/ {2}data\/100%25\.txt\n/);
      expect((await validateBag(bag)).valid).toBe(true);
      // The peer's known behaviour (upstream issue #157): it looks for the file "100%25.txt".
      const r = bagitPython("--validate", bag);
      expect(r.ok).toBe(false);
      expect(r.log).toMatch(/data\/100%25\.txt/);
    });

    it("a name with a backslash is refused when the bag is made, naming the file and why", async () => {
      const out = join(tempDir(), "bag");
      const e = await failure(createBag(source({ "back\\slash.txt": "b\n" }), out));
      expect(e.code).toBe("backslash-in-name");
      expect(e.message).toMatch(/1 name\(s\) with a backslash.*Windows.*rename them/);
      expect(JSON.stringify(e.details)).toContain("back\\\\slash.txt");
      expect(existsSync(out)).toBe(false);
    });
  });

  describe("bagit-python makes, track-run validates", () => {
    it.each([
      [["--sha256"]],
      [["--sha512"]],
      [["--md5"]],
      [["--sha256", "--sha512", "--md5"]],
    ])("with %j", async (flags) => {
      const bag = peerBag(flags);
      const report = await validateBag(bag);
      expect(report.errors).toEqual([]);
      expect(report.valid).toBe(true);
      expect(report.files).toBe(Object.keys(FILES).length);
      expect([...report.algorithms].sort()).toEqual(flags.map((f) => f.slice(2)).sort());
    });

    it("reads names with % as bagit-python writes them (unencoded), with a warning naming its behaviour", async () => {
      const bag = peerBag(["--sha256"], { "x%25y.txt": "x\n", "100%.txt": "full\n" });
      expect(readFileSync(join(bag, "manifest-sha256.txt"), "utf8")).toMatch(/ {2}data\/x%25y\.txt\n/);
      const report = await validateBag(bag);
      expect(report.errors).toEqual([]);
      expect(report.valid).toBe(true);
      expect(report.warnings.join("\n")).toMatch(
        /1 name\(s\) with "%".*bagit-python.*#157.*"data\/x%25y\.txt"/,
      );
      // Archived by track-run and read back from the tar stream, the same.
      const tar = join(tempDir(), "peer.tar");
      await tarBag(bag, tar);
      const fromTar = await validateBag(tar);
      expect(fromTar.errors).toEqual([]);
      expect(fromTar.valid).toBe(true);
    });

    it("still refuses a changed file whose name bagit-python left unencoded", async () => {
      const bag = peerBag(["--sha256"], { "x%25y.txt": "x\n" });
      flipByte(join(bag, "data", "x%25y.txt"));
      const report = await validateBag(bag);
      expect(report.valid).toBe(false);
      expect(report.errors).toMatchObject([
        { file: "data/x%25y.txt", message: "sha256 checksum does not match manifest-sha256.txt" },
      ]);
    });

    it("a name with a backslash: bagit-python accepts its bag, track-run refuses it, naming the rule", async () => {
      const bag = peerBag(["--sha256"], { "back\\slash.txt": "b\n" });
      expect(bagitPython("--validate", bag).ok).toBe(true);
      const report = await validateBag(bag);
      expect(report.valid).toBe(false);
      expect(report.errors.map((e) => e.message).join("\n")).toMatch(
        /"data\/back\\\\slash\.txt" is refused: backslash in path \(a folder separator on Windows/,
      );
    });
  });

  describe("bag tar, extracted by GNU tar, validated by bagit-python", () => {
    it.each([
      ["archive.tar.gz", "-xzf"],
      ["archive.tar", "-xf"],
    ])("%s", async (name, flag) => {
      const dir = tempDir();
      const bag = join(dir, "bag");
      await createBag(source(), bag, { algorithms: ["sha256", "sha512"] });
      await tarBag(bag, join(dir, name));
      mkdirSync(join(dir, "x"));
      const untar = spawnSync("tar", [flag, join(dir, name), "-C", join(dir, "x")], { encoding: "utf8" });
      expect(untar.status, untar.stderr).toBe(0);
      const r = bagitPython("--validate", join(dir, "x", "archive"));
      expect(r.ok, r.log).toBe(true);
    });
  });

  describe("a flipped byte is refused by both", () => {
    it.each([
      [
        "made by track-run",
        async () => {
          const bag = join(tempDir(), "bag");
          await createBag(source(), bag, { algorithms: ["sha256", "sha512"] });
          return bag;
        },
      ],
      ["made by bagit-python", async () => peerBag(["--sha256", "--md5"])],
    ])("%s", async (_, make) => {
      const bag = await make();
      flipByte(join(bag, "data", "sub", "dir", "nested.bin"));
      const report = await validateBag(bag);
      expect(report.valid).toBe(false);
      expect(report.errors.map((e) => e.file)).toContain("data/sub/dir/nested.bin");
      expect(report.errors[0]!.message).toMatch(/checksum does not match/);
      const r = bagitPython("--validate", bag);
      expect(r.ok).toBe(false);
      expect(r.log).toMatch(/data\/sub\/dir\/nested\.bin \w+ validation failed/);
    });
  });
});
