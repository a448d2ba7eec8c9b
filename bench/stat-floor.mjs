#!/usr/bin/env node
// The floor of a re-pin in Node: the least a Node process does to see whether any file of a tree
// changed. It starts, reads every folder and lstat-s every file, on two threads (each takes the
// next subtree not yet taken), keeping nothing: no stat cache, no hashing, no manifest.
// bench/bag.mjs runs it beside `git status` and the re-pin. Usage: node bench/stat-floor.mjs DIR
import { lstatSync, readdirSync } from "node:fs";
import { Worker } from "node:worker_threads";

const walk = (dir) => {
  let n = 0;
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${d.name}`;
    if (d.isDirectory()) n += walk(p);
    else {
      lstatSync(p);
      n++;
    }
  }
  return n;
};
const root = process.argv[2];
// The subfolders of the first folder (from the top) with two or more are the units the threads
// share; the files above them are stat-ed here.
const units = [];
let mine = 0;
for (let dir = root; dir; ) {
  const entries = readdirSync(dir, { withFileTypes: true });
  const dirs = entries.filter((d) => d.isDirectory()).map((d) => `${dir}/${d.name}`);
  for (const d of entries)
    if (!d.isDirectory()) {
      lstatSync(`${dir}/${d.name}`);
      mine++;
    }
  if (dirs.length >= 2) units.push(...dirs);
  dir = dirs.length === 1 ? dirs[0] : undefined;
}
const control = new Int32Array(new SharedArrayBuffer(8));
const source = `
const { readdirSync, lstatSync } = require("node:fs");
const { workerData, parentPort } = require("node:worker_threads");
const walk = ${walk.toString()};
const c = new Int32Array(workerData.control);
let n = 0;
for (let u = Atomics.add(c, 0, 1); u < workerData.units.length; u = Atomics.add(c, 0, 1)) n += walk(workerData.units[u]);
parentPort.postMessage(n);`;
const helper = new Worker(source, { eval: true, workerData: { control: control.buffer, units } });
const theirs = new Promise((resolve) => helper.once("message", resolve));
for (let u = Atomics.add(control, 0, 1); u < units.length; u = Atomics.add(control, 0, 1))
  mine += walk(units[u]);
console.log(mine + (await theirs));
