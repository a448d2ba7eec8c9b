// Data inside the repository is recorded by a location relative to it, and a reproduction finds it
// in the recorded commit, wherever the working copy has moved it since; a plain folder outside the
// repository is kept in the content cache. Host runtime: no engine.
import { readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { reproduceRun } from "../../src/reproduce/index.js";
import { type TrackResult, trackRun } from "../../src/run/index.js";
import { generateKeys, readPrivateKey, readPublicKey } from "../../src/sign/index.js";
import { commitAll, git, tempDir, writeTree } from "../helpers.js";

const TRAIN =
  "const fs=require('fs');fs.writeFileSync(process.env.TRACK_RUN_OUTPUTS+'/model.txt',fs.readFileSync(process.env.TRACK_RUN_DATA+'/train/rows.csv'));console.log('::track-run metric name=rows value=3')";

/** A repository with these files, a key, and runs of TRAIN on `data` recorded in its dir: ledger. */
function project(files: Record<string, string>) {
  const repo = tempDir();
  writeTree(repo, { ...files, ".gitignore": ".track-run/\n" });
  commitAll(repo);
  const keys = tempDir();
  generateKeys(join(keys, "k"));
  const signing = { key: readPrivateKey(join(keys, "k.key")) };
  const ledger = `dir:${join(repo, ".track-run/ledger")}`;
  const env = { PATH: process.env.PATH };
  return {
    repo,
    record: (data: string, cacheDir?: string) =>
      trackRun(
        {
          model: "demo",
          command: [process.execPath, "-e", TRAIN],
          repo,
          runtime: "host",
          data: [{ name: "train", path: data }],
          ledger,
          signing,
        },
        { env, ...(cacheDir ? { cacheDir } : {}) },
      ),
    reproduce: (original: TrackResult, cacheDir?: string) =>
      reproduceRun({
        bundle: JSON.parse(readFileSync(original.bundlePath, "utf8")),
        trust: { keys: [readPublicKey(join(keys, "k.pub"))] },
        repo,
        signing,
        ledger,
        env,
        ...(cacheDir ? { cacheDir } : {}),
      }),
  };
}

describe("data locations", () => {
  it("reproduces from the recorded commit after the data moved in the working copy", async () => {
    const p = project({ "data/v1/rows.csv": "1\n2\n3\n" });
    const original = await p.record(join(p.repo, "data/v1"));
    expect(original.manifest.data[0]!.location).toBe("data/v1");
    // The data moves on in the working copy (and in a later commit): the record still reproduces.
    renameSync(join(p.repo, "data/v1"), join(p.repo, "data/v2"));
    git(p.repo, "add", "-A");
    git(p.repo, "commit", "-q", "-m", "data v2");
    const report = await p.reproduce(original);
    expect(report.reasons).toEqual([]);
    expect(report.verdict).toBe("bitwise");
  });

  it("keeps a plain folder outside the repository in the content cache, so it reproduces after the folder moved", async () => {
    const p = project({ "train.js": "//" });
    const outside = tempDir();
    writeTree(outside, { "v1/rows.csv": "4\n5\n6\n" });
    const cacheDir = tempDir();
    const original = await p.record(join(outside, "v1"), cacheDir);
    renameSync(join(outside, "v1"), join(outside, "moved"));
    const report = await p.reproduce(original, cacheDir);
    expect(report.reasons).toEqual([]);
    expect(report.verdict).toBe("bitwise");
  });
});
