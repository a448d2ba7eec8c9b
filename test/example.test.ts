// The README's main job, `npm run example`, on a clean clone of this repository's HEAD: the whole
// story on the spam-filter example, asserting what a newcomer reads in its output.
import { spawnSync } from "node:child_process";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url).pathname;
const engine = spawnSync("docker", ["version"], { stdio: "ignore" }).status === 0;
const python = spawnSync("python3", ["--version"], { stdio: "ignore" }).status === 0;

describe.skipIf(!engine && !python)("the bundled example (npm run example)", () => {
  it("pins, trains, signs, gates, promotes, comments, fails a worse candidate on its loss, and reproduces bitwise", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "track-run-example-")), "repo");
    expect(spawnSync("git", ["clone", "-q", root, dir]).status).toBe(0);
    // What `npm ci` would install: the dependencies (the dataset among them) and the built CLI.
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    symlinkSync(join(root, "packages/cli/dist"), join(dir, "packages/cli/dist"));
    const r = spawnSync(process.execPath, ["examples/spam-filter/story.mjs"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, TRACK_RUN_CACHE: join(dir, "..", "cache") },
      timeout: 300_000,
    });
    const out = r.stdout;
    expect(out, r.stderr).not.toMatch(/uncommitted changes/);
    expect(r.status, out + r.stderr).toBe(0);
    expect(out).toMatch(/prepare: 6046 emails \(1896 spam, 4150 ham\)/);
    expect(out).toMatch(/data pin sha256:[0-9a-f]{64} \(1 file, \d+ bytes\)/);
    const first = /first model: run (\S+) succeeded, signed \(key\)/.exec(out)![1]!;
    expect(out).toMatch(/spam-filter: PASS \(first model: absolute bounds and provenance only\)/);
    expect(out).toContain(`promoted ${first} to production of spam-filter (#1, previous none)`);
    expect(out).toMatch(/param {4}epochs: 3 -> 1/);
    expect(out).toMatch(
      /<!-- track-run:compare model=spam-filter -->\n### ❌ \*\*spam-filter\*\*: the candidate does not pass the gate/,
    );
    expect(out).toMatch(
      /\| test\/loss \(lower\) \| 0\.1037 \| 0\.1684 \| \+0\.06477 \| \+62\.5% \| ▼ worse \(single run\) \| ❌ fail \|/,
    );
    expect(out).toMatch(
      /FAIL max_regression test\/loss: worse by 0\.06477 than production \(0\.1037\), more than the allowed 0\.01037/,
    );
    expect(out).toContain("gate: FAIL (exit 1): the candidate would not be promoted");
    expect(out).toContain("reproduce: bitwise");
    // Each epoch's wall time is a curve: it differs from the original run and does not decide the verdict.
    expect(out).toMatch(
      /also differs: curve train\/epoch_seconds differs at \d of 3 steps .*; curves do not decide the verdict/,
    );
    expect(out).toMatch(
      new RegExp(`\\* +${first}  spam-filter +[0-9a-f]{12} succeeded test/accuracy=0\\.9753`),
    );
  });
});
