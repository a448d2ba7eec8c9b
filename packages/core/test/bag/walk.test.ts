// The two-thread walk of a re-pin (walk.ts, parallelStat) finds what the walk on one thread finds,
// in the same order, with the same stat facts, whichever thread walked which subtree.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { walkFiles } from "../../src/bag/walk.js";
import { tempDir, writeTree } from "../helpers.js";

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
    // Links in many subtrees and at the top, a fifo, and names left out (a file and a fifo).
    for (const d of [2, 5, 11, 17, 23])
      symlinkSync("../part-00/f-1.txt", join(root, `top/data/part-${String(d).padStart(2, "0")}/link.txt`));
    symlinkSync("a.txt", join(root, "top/data/zz-link"));
    execFileSync("mkfifo", [join(root, "top/data/part-07/queue")]);
    writeFileSync(join(root, ".track-run"), "left out");
    execFileSync("mkfifo", [join(root, "left-out-fifo")]);
    const ignore = [".track-run", "left-out-fifo"];
    let helped = 0;
    for (let attempt = 0; attempt < 3 && helped === 0; attempt++) {
      const two = walkFiles(root, { parallelStat: true, ignore });
      const one = walkFiles(root, { ignore });
      expect(two.files.length).toBe(12_004);
      expect(facts(two)).toEqual(facts(one));
      // The problems as one thread lists them, in its order, whichever thread found them.
      expect(two.symlinks).toEqual([
        "top/data/part-02/link.txt",
        "top/data/part-05/link.txt",
        "top/data/part-11/link.txt",
        "top/data/part-17/link.txt",
        "top/data/part-23/link.txt",
        "top/data/zz-link",
      ]);
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

  it("a file it cannot stat fails the walk as on one thread, whichever thread met it, and never hangs", () => {
    const root = tempDir();
    for (let d = 0; d < 20; d++)
      for (let f = 0; f < 60; f++) writeTree(root, { [`u${String(d).padStart(2, "0")}/f-${f}`]: "x" });
    // In one subtree, a folder deep enough that a file in it has a path longer than the system takes.
    const level = "d".repeat(250);
    // The folder's path within PATH_MAX (4096 with its NUL), the file's beyond it.
    const depth = Math.floor((4090 - join(root, "u13").length) / (level.length + 1));
    execFileSync(
      "sh",
      ["-c", `for i in $(seq ${depth}); do mkdir ${level} && cd ${level}; done; echo x > ${"f".repeat(250)}`],
      {
        cwd: join(root, "u13"),
      },
    );
    const one = (() => {
      try {
        walkFiles(root);
      } catch (e) {
        return (e as NodeJS.ErrnoException).code;
      }
    })();
    expect(one).toBe("ENAMETOOLONG");
    for (let attempt = 0; attempt < 3; attempt++)
      expect(() => walkFiles(root, { parallelStat: true })).toThrow(
        expect.objectContaining({ code: "ENAMETOOLONG" }),
      );
  });
});
