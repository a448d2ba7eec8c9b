// Bundles the CLI (packages/cli/dist/, not committed) and every action (dist/<name>/index.js, committed).
//   node scripts/bundle.mjs            both
//   node scripts/bundle.mjs --cli      the CLI only (run by `npm ci` through prepare)
//   node scripts/bundle.mjs --actions  the actions only
//   node scripts/bundle.mjs --actions --outdir DIR   actions into DIR (used by check-dist)
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
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

// dockerode loads its BuildKit session support (gRPC, protobufjs) and docker-modem its SSH
// transport (ssh2) on start, whichever engine is used: a third of a tracked run's start-up. They are
// loaded on first use instead: a plain require inside a function, which the bundle runs lazily.
const lazyRequires = [
  { file: /dockerode[\\/]lib[\\/]docker\.js$/, binding: "withSession", path: "./session" },
  { file: /docker-modem[\\/]lib[\\/]modem\.js$/, binding: "ssh", path: "./ssh" },
];
/** @type {import('esbuild').Plugin} */
const lazyLoad = {
  name: "lazy-requires",
  setup(b) {
    for (const { file, binding, path } of lazyRequires) {
      b.onLoad({ filter: file }, (args) => {
        const source = readFileSync(args.path, "utf8");
        const eager = `${binding} = require('${path}'),`;
        if (!source.includes(eager))
          throw new Error(`${args.path}: "${eager}" not found; update lazyRequires in scripts/bundle.mjs`);
        const lazy = `${binding} = function () { return require('${path}').apply(this, arguments); },`;
        return { contents: source.replace(eager, lazy), loader: "js" };
      });
    }
  },
};

// isomorphic-git inflates and deflates git objects with pako (zlib in JavaScript) in Node too; a
// ledger of 10,000 runs has a runs/ tree of 400 KB, read and written on every change. Node's own
// zlib does the same in a fraction of the time (it also ignores bytes after the stream's end, as
// pako does for a packed object read from the middle of a pack).
const zlibCalls = [
  [": pako.inflate(buffer)", ": new Uint8Array(__trZlib.inflateSync(buffer))"],
  [": pako.deflate(buffer)", ": new Uint8Array(__trZlib.deflateSync(buffer))"],
];
/** @type {import('esbuild').Plugin} */
const nativeZlib = {
  name: "native-zlib",
  setup(b) {
    // The node build (index.cjs) is what platform: "node" resolves; the other is patched the same way.
    b.onLoad({ filter: /isomorphic-git[\\/]index\.c?js$/ }, (args) => {
      let source = readFileSync(args.path, "utf8");
      for (const [js, native] of zlibCalls) {
        if (!source.includes(js))
          throw new Error(`${args.path}: "${js}" not found; update zlibCalls in scripts/bundle.mjs`);
        source = source.replace(js, native);
      }
      const zlib = args.path.endsWith(".cjs")
        ? 'var __trZlib = require("node:zlib");'
        : 'import * as __trZlib from "node:zlib";';
      return { contents: `${zlib}\n${source}`, loader: "js" };
    });
  },
};

/** @type {import('esbuild').BuildOptions} */
const common = {
  plugins: [lazyLoad, nativeZlib],
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
