// The root action stores the run's signed bundle in GitHub's attestation store: dist/track/index.js
// run as the runner runs it, against the local GitHub API server that checks every request and
// response against GitHub's OpenAPI description.
import { createHash, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitAll, tempDir, writeTree } from "../../../packages/core/test/helpers.js";
import { type GitHubApiServer, startGitHubApi } from "../../../test/servers/github-api-server.js";
import { runAction } from "../../test-harness.js";

const dist = new URL("../../../dist/track/index.js", import.meta.url).pathname;
const PREDICATE = "https://track-run.dev/attestation/run-manifest/v1";

const pem = () =>
  generateKeyPairSync("ec", { namedCurve: "prime256v1" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();

/** A repository whose run writes two outputs, on the host (no container needed). */
function repo(): string {
  const dir = tempDir();
  writeTree(dir, {
    "data/train/rows.csv": "1\n2\n3\n",
    ".gitignore": ".track-run/\n",
    "track-run.yml": "model: spam-classifier\nruntime: host\ndata:\n  train: data/train\n",
  });
  commitAll(dir);
  return dir;
}

const COMMAND = 'echo weights > "$TRACK_RUN_OUTPUTS/model.bin" && echo 3 > "$TRACK_RUN_OUTPUTS/count.txt"';

describe("the root action stores its bundle as a GitHub attestation (bundled, local GitHub API)", () => {
  let api: GitHubApiServer;
  beforeAll(async () => {
    api = await startGitHubApi();
  });
  afterAll(async () => {
    await api.close();
  });

  const track = (dir: string, inputs: Record<string, string>) =>
    runAction(
      dist,
      { command: COMMAND, ...inputs },
      {
        cwd: dir,
        env: {
          GITHUB_ACTIONS: "true",
          GITHUB_API_URL: api.url,
          GITHUB_SERVER_URL: "https://github.com",
          GITHUB_REPOSITORY: `${api.owner}/${api.repo}`,
          GITHUB_RUN_ID: "77",
          RUNNER_ENVIRONMENT: "self-hosted",
          TRACK_RUN_CACHE: join(dir, ".cache"),
        },
      },
    );
  const posts = () => api.requests.filter((r) => r === `POST /repos/${api.owner}/${api.repo}/attestations`);

  it("posts the run's bundle file, unchanged, and gh's look-up by a subject's digest finds it", async () => {
    const dir = repo();
    const before = posts().length;
    const r = await track(dir, { "signing-key": pem(), "github-token": api.writeToken, attest: "true" });
    expect(r.code, r.stdout).toBe(0);
    expect(posts().length).toBe(before + 1);
    expect(api.violations).toEqual([]);
    const stored = api.attestations.at(-1)!;
    // The request body's bundle is the run's bundle file.
    expect(stored.bundle).toEqual(JSON.parse(readFileSync(r.outputs.bundle!, "utf8")));
    expect(r.outputs["attestation-id"]).toBe(String(stored.id));
    expect(r.outputs["attestation-url"]).toBe(`https://github.com/acme/models/attestations/${stored.id}`);
    expect(r.stdout).toContain("track-run: attestation stored for 2 outputs");

    // What `gh attestation verify model.bin --repo acme/models --predicate-type …` asks GitHub.
    const digest = createHash("sha256").update("weights\n").digest("hex");
    const found = await fetch(
      `${api.url}/repos/acme/models/attestations/sha256:${digest}?predicate_type=${encodeURIComponent(PREDICATE)}`,
      { headers: { authorization: `Bearer ${api.readToken}` } },
    ).then((x) => x.json() as Promise<{ attestations: Array<{ bundle: unknown }> }>);
    expect(found.attestations.map((a) => a.bundle)).toContainEqual(stored.bundle);
    expect(api.violations).toEqual([]);
  });

  it("warns, naming the permission to add, when the token may not write attestations; the step passes", async () => {
    const dir = repo();
    const count = api.attestations.length;
    const r = await track(dir, { "signing-key": pem(), "github-token": api.readToken, attest: "true" });
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs.status).toBe("succeeded");
    expect(r.outputs["attestation-id"]).toBeUndefined();
    expect(r.stdout).toMatch(
      /::warning::track-run: the record was not stored as a GitHub attestation: the token may not write attestations here \(HTTP 403: Resource not accessible by integration\): grant the job `permissions: attestations: write`/,
    );
    expect(r.stdout).toContain(`\`track-run attest ${r.outputs["run-id"]}\` stores it later`);
    expect(api.attestations.length).toBe(count);
    expect(api.violations).toEqual([]);
  });

  it("never stores an unsigned record, and stores nothing with attest: false", async () => {
    const before = posts().length;
    const unsigned = await track(repo(), {
      unsigned: "true",
      "github-token": api.writeToken,
      attest: "true",
    });
    expect(unsigned.code, unsigned.stdout).toBe(0);
    expect(unsigned.stdout).toContain("no attestation: the record is not signed");
    const off = await track(repo(), {
      "signing-key": pem(),
      "github-token": api.writeToken,
      attest: "false",
    });
    expect(off.code, off.stdout).toBe(0);
    expect(off.outputs["attestation-id"]).toBeUndefined();
    expect(posts().length).toBe(before);
  });
});
