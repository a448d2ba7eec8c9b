// Output names are relative paths of safe parts: a file the command names with a backslash or a
// newline is left out of the signed outputs, with a warning naming it. Host runtime: no engine.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { trackRun } from "../../src/run/index.js";
import { generateKeys, readPrivateKey } from "../../src/sign/index.js";
import { commitAll, tempDir, writeTree } from "../helpers.js";

describe("output names", () => {
  it("records only files with output names, and names the others in a warning", async () => {
    const repo = tempDir();
    writeTree(repo, { ".gitignore": ".track-run/\n" });
    commitAll(repo);
    const keys = tempDir();
    generateKeys(join(keys, "k"));
    const r = await trackRun(
      {
        model: "demo",
        command: [
          "sh",
          "-c",
          'echo ok > "$TRACK_RUN_OUTPUTS/model.bin"; echo x > "$TRACK_RUN_OUTPUTS/a\\\\b"; echo y > "$TRACK_RUN_OUTPUTS/$(printf "line\\nbreak")"',
        ],
        repo,
        runtime: "host",
        data: [],
        ledger: `dir:${join(repo, ".track-run/ledger")}`,
        signing: { key: readPrivateKey(join(keys, "k.key")) },
      },
      { env: { PATH: process.env.PATH } },
    );
    expect(r.manifest.outputs.map((o) => o.path)).toEqual(["model.bin"]);
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^output "a\\\\b" is not recorded: its name has a backslash/),
        expect.stringMatching(/^output "line\\nbreak" is not recorded: its name has a control character/),
      ]),
    );
  });
});
