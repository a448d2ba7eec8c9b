#!/usr/bin/env -S node --max-semi-space-size=2
// (A young generation of 2 MiB semi-spaces keeps peak memory down on trees of many small files, at the same speed.)
// Launcher: checks the Node version, then loads the bundled CLI built by `npm ci` (prepare) or `npm run build`.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(
    `track-run: needs Node 24 or later, found ${process.version}; run it as \`npx track-run\` inside the project (which uses the pinned Node 24) or install Node 24`,
  );
  process.exit(2);
}
// Cache V8's compiled code of the bundle on disk: every later start skips most of the parse.
try {
  (await import("node:module")).enableCompileCache?.();
} catch {
  // A read-only temp folder only costs start-up time.
}
try {
  await import("../dist/track-run.js");
} catch (e) {
  if (e?.code === "ERR_MODULE_NOT_FOUND" && String(e.message).includes("track-run.js")) {
    console.error("track-run: the CLI is not built; run `npm ci` (or `npm run build`) in the project first");
    process.exit(2);
  }
  throw e;
}
