// The two-thread walk of a re-pin (walk.ts, parallelStat) finds what the walk on one thread finds,
// in the same order, with the same stat facts, whichever thread walked which subtree.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { walkFiles } from "../../src/bag/walk.js";
import { tempDir } from "../helpers.js";

const facts = (w: ReturnType<typeof walkFiles>) =>
  w.files.rel.map((rel, i) => [rel, w.files.size[i], w.files.mtimeMs[i], w.files.ctimeMs[i], w.files.ino[i]]);

describe("the two-thread walk", () => {
  it("finds the files, links and special files a walk on one thread finds, in its order", () => {
    const root = tempDir();
    // 24 subtrees of 500 files (some nested, one with a link and a fifo), files above them, and a
    // folder with one subfolder on the way down (walked on this thread).
    for (let d = 0; d < 24; d++)
      for (let f = 0; f < 500; f++) {
        const dir = join(
          root,
          "top",
          "data",
          `part-${String(d).padStart(2, "0")}`,
          f % 7 === 0 ? "deep" : "",
        );
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `f-${f}.txt`), `${d}/${f}${"x".repeat(f % 13)}\n`);
      }
    for (const name of ["a.txt", "z.txt", "top/m.txt", "top/data/n.txt"])
      writeFileSync(join(root, name), name);
    symlinkSync("../part-00/f-1.txt", join(root, "top/data/part-05/link.txt"));
    execFileSync("mkfifo", [join(root, "top/data/part-07/queue")]);
    writeFileSync(join(root, ".track-run"), "left out");
    let helped = 0;
    for (let attempt = 0; attempt < 3 && helped === 0; attempt++) {
      const two = walkFiles(root, { parallelStat: true, ignore: [".track-run"] });
      const one = walkFiles(root, { ignore: [".track-run"] });
      expect(two.files.length).toBe(12_004);
      expect(facts(two)).toEqual(facts(one));
      expect(two.symlinks).toEqual(["top/data/part-05/link.txt"]);
      expect(two.specials).toEqual(["top/data/part-07/queue"]);
      expect(two.symlinks).toEqual(one.symlinks);
      expect(two.specials).toEqual(one.specials);
      helped = two.helperUnits ?? 0;
    }
    // The helper thread walked some of the subtrees (it starts once 1,024 files are walked here).
    expect(helped).toBeGreaterThan(0);
  }, 60_000);

  it("stats the files of one flat folder on both threads, and they match", () => {
    const root = tempDir();
    for (let f = 0; f < 3000; f++)
      writeFileSync(join(root, `f-${String(f).padStart(4, "0")}.bin`), "x".repeat(f % 50));
    const two = walkFiles(root, { parallelStat: true });
    expect(two.files.length).toBe(3000);
    expect(facts(two)).toEqual(facts(walkFiles(root)));
  });
});
