#!/usr/bin/env node
// Generates the bag benchmark datasets, deterministically (AES-256-CTR keystream, fixed key):
//   big/    16 files of 128 MiB
//   small/  50,000 files of 4 KiB in 100 folders
// Usage: node bench/gen-data.mjs [--dir bench/.data] [--only big|small]
// Re-running is a no-op when the data is already there and complete.
import { createCipheriv } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const dir = args.includes("--dir")
  ? args[args.indexOf("--dir") + 1]
  : new URL("./.data", import.meta.url).pathname;
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;

function keystream(seed) {
  const key = Buffer.alloc(32, 0);
  key.writeUInt32BE(seed, 0);
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16, 0));
}

function generate(name, spec, write) {
  const root = join(dir, name);
  const marker = join(dir, `${name}.complete`);
  if (existsSync(marker) && readFileSync(marker, "utf8") === spec) return false;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  write(root);
  writeFileSync(marker, spec);
  return true;
}

const CHUNK = 8 * 1024 * 1024;
if (only !== "small") {
  const made = generate("big", "16x128MiB v1", (root) => {
    const zero = Buffer.alloc(CHUNK);
    for (let i = 0; i < 16; i++) {
      const c = keystream(i + 1);
      const fd = openSync(join(root, `shard-${String(i).padStart(2, "0")}.bin`), "w");
      for (let done = 0; done < 128 * 1024 * 1024; done += CHUNK) writeSync(fd, c.update(zero));
      closeSync(fd);
    }
  });
  console.error(made ? "generated big/ (16 x 128 MiB)" : "big/ already present");
}
if (only !== "big") {
  const made = generate("small", "50000x4KiB/100 v1", (root) => {
    const c = keystream(1000);
    const zero = Buffer.alloc(4096 * 500);
    for (let d = 0; d < 100; d++) {
      const folder = join(root, `part-${String(d).padStart(3, "0")}`);
      mkdirSync(folder);
      const block = c.update(zero);
      for (let f = 0; f < 500; f++)
        writeFileSync(
          join(folder, `rec-${String(f).padStart(3, "0")}.bin`),
          block.subarray(f * 4096, (f + 1) * 4096),
        );
    }
  });
  console.error(made ? "generated small/ (50,000 x 4 KiB in 100 folders)" : "small/ already present");
}
