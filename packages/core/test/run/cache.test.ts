import { readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cachedBagPath, generateKeys, readPrivateKey, TrackRunError, trackRun } from "../../src/index.js";
import { failure, holeyBagOf, tempDir } from "../helpers.js";

describe("holey bags in a run", () => {
  it("fetches the payload once into the content cache, then uses the cache (validated) without the network", async () => {
    const body = Buffer.from("id,label\n1,spam\n2,ham\n");
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rows.csv`;
    const repo = tempDir();
    const bag = join(repo, "holey");
    holeyBagOf(url, body, bag);
    const keys = tempDir();
    generateKeys(join(keys, "k"));
    const cacheDir = tempDir();
    const spec = {
      model: "demo",
      command: [
        process.execPath,
        "-e",
        "process.stdout.write(require('fs').readFileSync(process.env.TRACK_RUN_DATA+'/rows/rows.csv','utf8'))",
      ],
      repo,
      runtime: "host" as const,
      data: [{ name: "rows", path: bag }],
      ledger: `dir:${join(repo, "ledger")}`,
      signing: { key: readPrivateKey(join(keys, "k.key")) },
      allowNoGit: true,
    };
    const lines: string[] = [];
    const first = await trackRun(spec, {
      env: { PATH: process.env.PATH },
      cacheDir,
      onLine: (_s, l) => lines.push(l),
    });
    expect(first.status.state).toBe("succeeded");
    expect(lines).toEqual(["id,label", "1,spam", "2,ham"]);
    expect(first.dataSources).toEqual([expect.objectContaining({ name: "rows", source: "fetched" })]);
    // Inside the repository: recorded relative to it.
    expect(first.manifest.data[0]).toMatchObject({ location: "holey", holey: true, files: 1 });
    expect(hits).toBe(1);
    await new Promise<void>((r) => server.close(() => r()));

    const second = await trackRun(spec, { env: { PATH: process.env.PATH }, cacheDir });
    expect(second.dataSources[0]!.source).toBe("cache");
    expect(second.manifest.data[0]!.digest).toBe(first.manifest.data[0]!.digest);

    // A damaged cached copy is not trusted: it is fetched again (and here the server is gone).
    const cached = cachedBagPath(cacheDir, first.dataSources[0]!.digest!);
    writeFileSync(join(cached, "data/rows.csv"), "tampered");
    const err = await failure(trackRun(spec, { env: { PATH: process.env.PATH }, cacheDir }));
    expect(err).toBeInstanceOf(TrackRunError);
    expect(err.message).toMatch(/could not be fetched/);
    expect(readdirSync(join(cacheDir, "bags"))).toEqual([]);
  });
});
