// verify --outputs DIR: a subject names a file inside DIR, never one beside or above it.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  buildStatement,
  generateKeys,
  readPrivateKey,
  readPublicKey,
  signStatement,
  verifyBundle,
} from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { sampleManifest } from "./fixtures.js";

const sha = (b: string) => createHash("sha256").update(b).digest("hex");

/** A signed bundle whose subjects are `names`, each with the digest of "secret". */
function bundleNaming(dir: string, names: string[]) {
  const statement = buildStatement(
    sampleManifest([]),
    names.map((name) => ({ name, digest: { sha256: sha("secret") } })),
  );
  const keys = generateKeys(join(dir, "signing"), "p256");
  return {
    bundle: signStatement(statement, readPrivateKey(keys.privateKey)),
    pub: readPublicKey(keys.publicKey),
  };
}

describe("verify --outputs: subjects stay inside the folder", () => {
  it.each([
    ["../x", "a file beside the folder", "has a '..' part"],
    ["../out2/secret", "a sibling whose name starts with the folder's", "has a '..' part"],
    ["sub/../../x", "a '..' after a folder", "has a '..' part"],
    ["/abs/secret", "an absolute path", "is an absolute path"],
    ["..\\x", "a backslash", "has a backslash (a Windows separator)"],
  ])("refuses the subject %j (%s), without reading it", async (name, _, why) => {
    const dir = tempDir();
    const out = join(dir, "out");
    mkdirSync(join(out, "sub"), { recursive: true });
    mkdirSync(join(dir, "out2"));
    for (const f of ["x", "out2/secret", "..\\x"]) writeFileSync(join(dir, f), "secret");
    writeFileSync(join(out, "..\\x"), "secret");
    const { bundle, pub } = bundleNaming(dir, [name]);
    const r = await verifyBundle(bundle, { keys: [pub], subjectsDir: out });
    expect(r.ok).toBe(false);
    expect(r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)).toEqual([
      `subject ${name}: the subject name ${why}, so it cannot name a file in the folder`,
    ]);
  });

  it("refuses a subject that is a link leading outside the folder, and one that is not a regular file", async () => {
    const dir = tempDir();
    const out = join(dir, "out");
    mkdirSync(out);
    writeFileSync(join(dir, "secret"), "secret");
    symlinkSync(join(dir, "secret"), join(out, "link"));
    mkdirSync(join(dir, "elsewhere"));
    symlinkSync(join(dir, "elsewhere"), join(out, "linkdir"));
    writeFileSync(join(dir, "elsewhere", "f"), "secret");
    expect(spawnSync("mkfifo", [join(out, "fifo")]).status).toBe(0);
    const { bundle, pub } = bundleNaming(dir, ["link", "linkdir/f", "fifo"]);
    const r = await verifyBundle(bundle, { keys: [pub], subjectsDir: out });
    const failed = r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    expect(failed).toEqual([
      "subject link: subject name points outside the folder: a symbolic link leads outside the folder",
      "subject linkdir/f: subject name points outside the folder: a symbolic link leads outside the folder",
      `subject fifo: ${join(out, "fifo")} is not a regular file`,
    ]);
  });

  it("accepts subjects inside the folder, links inside it included", async () => {
    const dir = tempDir();
    const out = join(dir, "out");
    mkdirSync(join(out, "a"), { recursive: true });
    writeFileSync(join(out, "a", "model.bin"), "secret");
    writeFileSync(join(out, "..x"), "secret");
    symlinkSync(join(out, "a", "model.bin"), join(out, "alias"));
    const { bundle, pub } = bundleNaming(dir, ["a/model.bin", "..x", "alias"]);
    const r = await verifyBundle(bundle, { keys: [pub], subjectsDir: out });
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.ok).toBe(true);
  });
});
