// Fails (exit 1) when the committed dist/ of the actions does not match a fresh bundle of the source.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const fresh = mkdtempSync(join(tmpdir(), "track-run-dist-"));

function files(dir) {
  let out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    out = statSync(p).isDirectory() ? out.concat(files(p)) : out.concat([p]);
  }
  return out;
}

try {
  execFileSync(process.execPath, [join(root, "scripts/bundle.mjs"), "--actions", "--outdir", fresh], {
    stdio: "inherit",
  });
  const committed = new Map(files(join(root, "dist")).map((p) => [relative(join(root, "dist"), p), p]));
  const built = new Map(files(fresh).map((p) => [relative(fresh, p), p]));
  const problems = [];
  for (const [rel, p] of built) {
    const c = committed.get(rel);
    if (!c) problems.push(`dist/${rel} is missing`);
    else if (!readFileSync(c).equals(readFileSync(p))) problems.push(`dist/${rel} does not match its source`);
  }
  for (const rel of committed.keys()) if (!built.has(rel)) problems.push(`dist/${rel} has no source action`);
  if (problems.length) {
    for (const p of problems) console.error(`check-dist: ${p}`);
    console.error("check-dist: run `npm run bundle` and commit dist/");
    process.exit(1);
  }
  console.log(`check-dist: ${built.size} bundled file(s) match the source`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
