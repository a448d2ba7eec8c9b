import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    alias: [
      {
        find: /^@track-run\/core$/,
        replacement: fileURLToPath(new URL("./packages/core/src/index.ts", import.meta.url)),
      },
      {
        find: /^@track-run\/core\/interop$/,
        replacement: fileURLToPath(new URL("./packages/core/src/util/interop.ts", import.meta.url)),
      },
      {
        find: /^@track-run\/core\/files$/,
        replacement: fileURLToPath(new URL("./packages/core/src/util/files.ts", import.meta.url)),
      },
      {
        find: /^@track-run\/core\/names$/,
        replacement: fileURLToPath(new URL("./packages/core/src/util/names.ts", import.meta.url)),
      },
      {
        find: /^@track-run\/core\/errors$/,
        replacement: fileURLToPath(new URL("./packages/core/src/errors.ts", import.meta.url)),
      },
      {
        find: /^@track-run\/core\/(.+)$/,
        replacement: fileURLToPath(new URL("./packages/core/src/$1/index.ts", import.meta.url)),
      },
    ],
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "actions/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: files run in parallel, one worker per core.
    maxWorkers: 2,
    coverage: {
      provider: "v8",
      include: ["packages/*/src/**/*.ts", "actions/*/src/**/*.ts"],
      exclude: ["**/__generated__/**"],
      reporter: ["text-summary", "json-summary"],
    },
  },
});
