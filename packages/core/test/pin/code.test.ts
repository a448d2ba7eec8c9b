import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pinCode, stripCredentials, TrackRunError } from "../../src/index.js";
import { failure, tempDir, writeTree } from "../helpers.js";

const TOKEN = "ghs_S3cr3tT0k3nValue1234567890";

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Ada Example",
      GIT_AUTHOR_EMAIL: "ada@example.org",
      GIT_COMMITTER_NAME: "Ada Example",
      GIT_COMMITTER_EMAIL: "ada@example.org",
      GIT_AUTHOR_DATE: "2026-01-02T03:04:05Z",
      GIT_COMMITTER_DATE: "2026-01-02T03:04:05Z",
    },
  }).trim();
}

function repo(): string {
  const dir = tempDir();
  git(dir, "init", "-q", "-b", "main");
  writeTree(dir, {
    "train.py": "print('train')\n",
    "src/model.py": "W = 1\n",
    ".gitignore": "*.log\nout/\n",
  });
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "first");
  git(dir, "tag", "v1");
  git(dir, "tag", "-a", "-m", "release", "release-1");
  git(dir, "remote", "add", "origin", `https://x-access-token:${TOKEN}@github.com/acme/models.git`);
  return dir;
}

describe("code pin", () => {
  it.each(["binary", "isomorphic"] as const)("pins a clean repository (%s engine)", async (engine) => {
    const dir = repo();
    const pin = await pinCode(dir, { engine });
    expect(pin).toEqual({
      kind: "git",
      commit: git(dir, "rev-parse", "HEAD"),
      tree: git(dir, "rev-parse", "HEAD^{tree}"),
      ref: "main",
      detached: false,
      tags: ["release-1", "v1"],
      shallow: false,
      author: "Ada Example <ada@example.org>",
      committedAt: "2026-01-02T03:04:05.000Z",
      remote: "https://github.com/acme/models.git",
    });
    expect(JSON.stringify(pin)).not.toContain(TOKEN);
  });

  it.each([
    "binary",
    "isomorphic",
  ] as const)("lists modified, added, deleted and untracked files, not ignored ones (%s)", async (engine) => {
    const dir = repo();
    writeFileSync(join(dir, "train.py"), "print('changed')\n");
    writeTree(dir, {
      "new.py": "x = 1\n",
      "notes.txt": "scratch\n",
      "run.log": "ignored\n",
      "out/model.bin": "ignored",
    });
    git(dir, "add", "new.py");
    rmSync(join(dir, "src/model.py"));
    const pin = await pinCode(dir, { engine });
    expect(pin.dirty).toMatchObject({
      modified: ["train.py"],
      added: ["new.py"],
      deleted: ["src/model.py"],
      untracked: ["notes.txt"],
    });
    expect(pin.dirty?.diffDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("gives the same dirty digest with either engine, and a new one when a change changes", async () => {
    const dir = repo();
    writeFileSync(join(dir, "train.py"), "print('changed')\n");
    writeTree(dir, { "notes.txt": "scratch\n" });
    const a = await pinCode(dir, { engine: "binary" });
    const b = await pinCode(dir, { engine: "isomorphic" });
    expect(a.dirty?.diffDigest).toBe(b.dirty?.diffDigest);
    writeFileSync(join(dir, "notes.txt"), "scratch 2\n");
    expect((await pinCode(dir)).dirty?.diffDigest).not.toBe(a.dirty?.diffDigest);
  });

  it("--strict refuses a dirty tree with exit 1, listing the files", async () => {
    const dir = repo();
    writeTree(dir, { "notes.txt": "scratch\n" });
    const err = await failure(pinCode(dir, { strict: true }));
    expect(err).toBeInstanceOf(TrackRunError);
    expect(err.exitCode).toBe(1);
    expect(err.details).toEqual(["untracked: notes.txt"]);
    rmSync(join(dir, "notes.txt"));
    expect((await pinCode(dir, { strict: true })).dirty).toBeUndefined();
  });

  it("pins a detached HEAD", async () => {
    const dir = repo();
    git(dir, "checkout", "-q", "--detach", "HEAD");
    const pin = await pinCode(dir);
    expect(pin).toMatchObject({ ref: "HEAD", detached: true });
  });

  it.each([
    "binary",
    "isomorphic",
  ] as const)("pins a shallow clone (depth 1) without network (%s)", async (engine) => {
    const origin = repo();
    writeTree(origin, { "second.py": "2\n" });
    git(origin, "add", "-A");
    git(origin, "commit", "-q", "-m", "second");
    const clone = join(tempDir(), "clone");
    git(tempDir(), "clone", "-q", "--depth", "1", `file://${origin}`, clone);
    const pin = await pinCode(clone, { engine });
    expect(pin).toMatchObject({ commit: git(origin, "rev-parse", "HEAD"), shallow: true, ref: "main" });
    expect(pin.remote).toBe(`file://${origin}`);
  });

  it("records submodule commits", async () => {
    const sub = repo();
    const dir = repo();
    git(dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "vendor/lib");
    git(dir, "commit", "-q", "-m", "add submodule");
    const pin = await pinCode(dir);
    expect(pin.submodules).toEqual([{ path: "vendor/lib", commit: git(sub, "rev-parse", "HEAD") }]);
    expect(pin.dirty).toBeUndefined();
  });

  it("refuses a folder outside git with exit 2, or pins it by content with allowNoGit", async () => {
    const dir = tempDir();
    writeTree(dir, { "train.py": "print(1)\n" });
    const err = await failure(pinCode(dir));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/is not inside a git repository.*--allow-no-git/);
    const pin = await pinCode(dir, { allowNoGit: true });
    expect(pin.kind).toBe("content");
    expect(pin.contentDigest).toMatch(/^[0-9a-f]{64}$/);
    expect((await pinCode(dir, { allowNoGit: true })).contentDigest).toBe(pin.contentDigest);
  });

  it("refuses a repository without a commit", async () => {
    const dir = tempDir();
    git(dir, "init", "-q");
    await expect(pinCode(dir)).rejects.toThrow(/has no commit yet/);
  });
});

describe("credentials", () => {
  it.each([
    [`https://x-access-token:${TOKEN}@github.com/o/r.git`, "https://github.com/o/r.git"],
    [`https://${TOKEN}@github.com/o/r`, "https://github.com/o/r"],
    ["https://github.com/o/r.git", "https://github.com/o/r.git"],
    ["git@github.com:o/r.git", "git@github.com:o/r.git"],
    [`user:${TOKEN}@host.example:o/r.git`, "user@host.example:o/r.git"],
    [`ssh://git:${TOKEN}@host.example/o/r.git`, "ssh://host.example/o/r.git"],
  ])("strips credentials from %s", (input, expected) => {
    expect(stripCredentials(input)).toBe(expected);
  });
});
