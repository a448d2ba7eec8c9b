// Bundles the CLI (packages/cli/dist/, not committed) and every action (dist/<name>/index.js, committed).
//   node scripts/bundle.mjs            both
//   node scripts/bundle.mjs --cli      the CLI only (run by `npm ci` through prepare)
//   node scripts/bundle.mjs --actions  the actions only
//   node scripts/bundle.mjs --actions --outdir DIR   actions into DIR (used by check-dist)
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const only = args.includes("--cli") ? "cli" : args.includes("--actions") ? "actions" : "all";
const outdirArg = args.indexOf("--outdir");
const actionsOut = outdirArg >= 0 ? args[outdirArg + 1] : join(root, "dist");

// CommonJS dependencies call require(); give the ESM bundle one.
const banner = {
  js: [
    "import { createRequire as __trCreateRequire } from 'node:module';",
    "import { fileURLToPath as __trFileURLToPath } from 'node:url';",
    "import { dirname as __trDirname } from 'node:path';",
    "const require = __trCreateRequire(import.meta.url);",
    "const __filename = __trFileURLToPath(import.meta.url);",
    "const __dirname = __trDirname(__filename);",
  ].join(" "),
};

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  banner,
  // ssh2 (under dockerode) loads optional native crypto inside try/catch; leave it out of bundles.
  external: ["cpu-features", "*.node"],
  logLevel: "warning",
  legalComments: "none",
  sourcemap: false,
  minify: false,
};

/** Actions that exist: actions/<name>/src/main.ts. */
export function actionEntries() {
  const dir = join(root, "actions");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, "src/main.ts")))
    .sort()
    .map((name) => ({ name, entry: join(dir, name, "src/main.ts") }));
}

if (only !== "actions") {
  // Split into chunks: a command loads only the capabilities it uses, keeping start-up small.
  rmSync(join(root, "packages/cli/dist"), { recursive: true, force: true });
  await build({
    ...common,
    entryPoints: { "track-run": join(root, "packages/cli/src/main.ts") },
    outdir: join(root, "packages/cli/dist"),
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
  });
}
if (only !== "cli") {
  for (const { name, entry } of actionEntries()) {
    await build({ ...common, entryPoints: [entry], outfile: join(actionsOut, name, "index.js") });
  }
}
