// `track-run attest RUN` against the local GitHub API server (requests and responses checked
// against GitHub's OpenAPI description): the run's signed bundle, read through the verified reader.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GitHubApiServer, startGitHubApi } from "../../../test/servers/github-api-server.js";
import { type LedgerProject, ledgerProject, trackRun } from "./ledger-project.js";

const bin = new URL("../bin/track-run.js", import.meta.url).pathname;

/** The CLI, spawned without blocking this process (the API server answers from it). */
function cli(dir: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
}

describe("track-run attest (local GitHub API)", () => {
  let api: GitHubApiServer;
  let project: LedgerProject;
  beforeAll(async () => {
    api = await startGitHubApi();
    project = ledgerProject({ promote: false });
  });
  afterAll(async () => {
    await api.close();
  });
  const env = (token: string) => ({
    GITHUB_API_URL: api.url,
    GITHUB_REPOSITORY: `${api.owner}/${api.repo}`,
    GH_WRITE: token,
  });
  const posts = () => api.requests.filter((r) => r === "POST /repos/acme/models/attestations").length;

  it("stores the run's bundle file as it is, and prints the attestation", async () => {
    const runId = project.train(0.9);
    // Read once before: the run then comes from the local index, which keeps no bundle.
    expect((await cli(project.dir, ["log"], env(api.writeToken))).code).toBe(0);
    const r = await cli(
      project.dir,
      ["attest", runId, "--token-env", "GH_WRITE", "--json"],
      env(api.writeToken),
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const stored = api.attestations.at(-1)!;
    expect(out).toEqual({
      runId,
      stored: true,
      id: stored.id,
      url: `https://github.com/acme/models/attestations/${stored.id}`,
      subjects: 1,
    });
    const file = join(project.dir, ".track-run/ledger/runs", runId, "bundle.sigstore.json");
    expect(stored.bundle).toEqual(JSON.parse(readFileSync(file, "utf8")));
    expect(api.violations).toEqual([]);
  });

  it("a read-only token: exit 1, naming the permission to add", async () => {
    const runId = project.train(0.91);
    const before = posts();
    const r = await cli(project.dir, ["attest", runId, "--token-env", "GH_WRITE"], env(api.readToken));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("HTTP 403: Resource not accessible by integration");
    expect(r.stderr).toContain("`permissions: attestations: write`");
    expect(posts()).toBe(before + 1);
    expect(api.violations).toEqual([]);
  });

  it("never stores an unsigned record; no token or no repository is bad usage", async () => {
    const u = trackRun(project.dir, [
      "run",
      "--json",
      "--unsigned",
      "--model",
      "spam",
      "--runtime",
      "host",
      "--",
      "sh",
      "-c",
      "echo x > $TRACK_RUN_OUTPUTS/model.bin",
    ]);
    expect(u.status, u.stderr).toBe(0);
    const unsigned = (JSON.parse(u.stdout) as { runId: string }).runId;
    const before = posts();
    const r = await cli(project.dir, ["attest", unsigned, "--token-env", "GH_WRITE"], env(api.writeToken));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `run ${unsigned} is not stored as an attestation: it is recorded unsigned, and an unsigned record is never stored`,
    );
    const noToken = await cli(project.dir, ["attest", unsigned], { GITHUB_API_URL: api.url });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("no GitHub token: set GITHUB_TOKEN");
    const noRepo = await cli(project.dir, ["attest", unsigned], { GITHUB_TOKEN: api.writeToken });
    expect(noRepo.code).toBe(2);
    expect(noRepo.stderr).toContain("no repository: pass --repo OWNER/REPO");
    expect(posts()).toBe(before);
  });
});
