import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ledgerProject } from "../../../packages/cli/test/ledger-project.js";
import { type GitHubApiServer, startGitHubApi } from "../../../test/servers/github-api-server.js";
import { runAction } from "../../test-harness.js";

const dist = new URL("../../../dist/compare/index.js", import.meta.url).pathname;
const MARKER = "<!-- track-run:compare model=spam -->";

/** The ledger project with candidates at the given accuracies. */
function project(candidates: number[], extraMetrics = 0): { dir: string; runs: string[] } {
  const p = ledgerProject({ extraMetrics });
  return { dir: p.dir, runs: candidates.map((accuracy) => p.train(accuracy)) };
}

describe("actions/compare (bundled) against the local GitHub API", () => {
  let api: GitHubApiServer;
  let pr = 100;
  beforeAll(async () => {
    api = await startGitHubApi();
  });
  afterAll(async () => {
    await api.close();
  });

  function env(dir: string, number: number, token: string) {
    const event = join(dir, "..", `event-${number}.json`);
    writeFileSync(
      event,
      JSON.stringify({
        pull_request: { number, head: { sha: `${"ab".repeat(19)}${String(number).padStart(2, "0")}` } },
      }),
    );
    return {
      env: {
        GITHUB_ACTIONS: "true",
        GITHUB_API_URL: api.url,
        GITHUB_SERVER_URL: "https://github.com",
        GITHUB_REPOSITORY: `${api.owner}/${api.repo}`,
        GITHUB_EVENT_NAME: "pull_request",
        GITHUB_EVENT_PATH: event,
        GITHUB_RUN_ID: "4242",
        GITHUB_SHA: "f".repeat(40),
        TRACK_RUN_CACHE: join(dir, ".cache"),
      },
      cwd: dir,
      token,
    };
  }
  const compare = (runs: string[], o: ReturnType<typeof env>, inputs: Record<string, string> = {}) =>
    runAction(
      dist,
      { runs: runs.join("\n"), "github-token": o.token, ...inputs },
      { cwd: o.cwd, env: o.env },
    );
  const ours = (issue: number) =>
    [...api.comments.values()].filter((c) => c.issue === issue && c.body.startsWith(MARKER));

  it("finds its comment among more than 100 by paginating, updates it in place, and sets the status", async () => {
    const { dir, runs } = project([0.9, 0.86]);
    const issue = ++pr;
    for (let i = 0; i < 150; i++)
      api.addComment(issue, i === 120 ? `${MARKER}\nan old report` : `review note ${i}`);
    const before = api.requests.length;
    const r = await compare([runs[0]!], env(dir, issue, api.writeToken));
    expect(r.stdout).not.toMatch(/::error::/);
    expect(r.code).toBe(0);
    expect(r.outputs.verdict).toBe("pass");
    const mine = ours(issue);
    expect(mine).toHaveLength(1);
    expect(String(mine[0]!.id)).toBe(r.outputs["comment-id"]);
    expect(mine[0]!.body).toMatch(/✅ \*\*spam\*\*: the candidate passes the gate/);
    expect(mine[0]!.body).toMatch(
      /\| accuracy \(higher\) \| 0\.85 \| 0\.9 \| \+0\.05 \| \+5\.88% \| ▲ better \(single run\) \| ✅ pass \|/,
    );
    expect([...api.comments.values()].filter((c) => c.issue === issue)).toHaveLength(150);
    expect(api.requests.slice(before)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^GET \/repos\/acme\/models\/issues\/\d+\/comments\?per_page=100&page=2$/),
        expect.stringMatching(/^PATCH \/repos\/acme\/models\/issues\/comments\/\d+$/),
      ]),
    );
    expect(api.requests.slice(before).filter((q) => q.startsWith("POST /repos/acme/models/issues"))).toEqual(
      [],
    );
    expect(api.statuses.at(-1)).toMatchObject({
      sha: `${"ab".repeat(19)}${issue}`,
      state: "success",
      context: "track-run/spam",
      description: "passes: accuracy 0.9 (+0.05)",
      target_url: "https://github.com/acme/models/actions/runs/4242",
    });
    expect(r.summary).toContain(MARKER);
    expect(readFileSync(r.outputs.report!, "utf8")).toContain("| accuracy (higher) |");

    // Another push: the same comment, new body.
    const again = await compare([runs[1]!], env(dir, issue, api.writeToken));
    expect(again.code).toBe(0);
    expect(ours(issue)).toHaveLength(1);
    expect(ours(issue)[0]!.id).toBe(mine[0]!.id);
    expect(ours(issue)[0]!.body).toMatch(/\| 0\.85 \| 0\.86 \| \+0\.01 \|/);
    expect(api.violations).toEqual([]);
  });

  it("a gate that fails exits 1 naming the rule, and the status says failure", async () => {
    const { dir, runs } = project([0.8]);
    const issue = ++pr;
    const r = await compare(runs, env(dir, issue, api.writeToken));
    expect(r.code).toBe(1);
    expect(r.outputs.verdict).toBe("fail");
    expect(r.stdout).toMatch(
      /::error::spam does not pass the gate: max_regression accuracy: worse by 0\.05 than production \(0\.85\), more than the allowed 0\.01/,
    );
    expect(ours(issue)[0]!.body).toMatch(/❌ \*\*max_regression\*\* accuracy/);
    expect(api.statuses.at(-1)).toMatchObject({
      state: "failure",
      context: "track-run/spam",
      description: "fails max_regression accuracy",
    });
    expect(api.violations).toEqual([]);
  });

  it("two jobs upserting at once leave exactly one comment", async () => {
    const { dir, runs } = project([0.9, 0.91]);
    const issue = ++pr;
    api.raceCreates(2);
    const [a, b] = await Promise.all([
      compare([runs[0]!], env(dir, issue, api.writeToken)),
      compare([runs[1]!], env(dir, issue, api.writeToken)),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    // Both created one (the server held them until both had arrived); one moved onto the oldest.
    expect(api.requests.filter((q) => q === `POST /repos/acme/models/issues/${issue}/comments`)).toHaveLength(
      2,
    );
    const left = ours(issue);
    expect(left).toHaveLength(1);
    expect([a.outputs["comment-id"], b.outputs["comment-id"]]).toEqual([
      String(left[0]!.id),
      String(left[0]!.id),
    ]);
    expect(a.stdout + b.stdout).toMatch(/removed 1 duplicate/);
    expect(api.violations).toEqual([]);
  });

  it("a fork's read-only token: the summary is written and the log says why there is no comment", async () => {
    const { dir, runs } = project([0.9]);
    const issue = ++pr;
    const statuses = api.statuses.length;
    const r = await compare(runs, env(dir, issue, api.readToken));
    expect(r.code).toBe(0);
    expect(r.summary).toContain("the candidate passes the gate");
    expect(r.stdout).toMatch(
      /::warning::track-run: no comment posted on #\d+: the token may not write here \(HTTP 403: Resource not accessible by integration\)\. A pull request from a fork gets a read-only GITHUB_TOKEN/,
    );
    expect(r.stdout).toMatch(/::warning::track-run: no commit status track-run\/spam set/);
    expect(ours(issue)).toHaveLength(0);
    expect(api.statuses).toHaveLength(statuses);
    expect(api.violations).toEqual([]);
  });

  it("a report over GitHub's 65,536-character limit is cut at a line with a pointer to the step summary", async () => {
    const { dir, runs } = project([0.9], 1400);
    const issue = ++pr;
    const r = await compare(runs, env(dir, issue, api.writeToken));
    expect(r.code).toBe(0);
    const body = ours(issue)[0]!.body;
    expect(body.length).toBeLessThanOrEqual(65_536);
    expect(body).toMatch(
      /\n\n… truncated to fit GitHub's 65536-character limit; the full report is in the step summary: https:\/\/github\.com\/acme\/models\/actions\/runs\/4242\.$/,
    );
    expect(body).toMatch(/\| m\d{4} \(lower\) \| 1 \| 1 \| 0 \| 0% \| = same \| ✅ pass \|\n\n… truncated/);
    expect(r.summary.length).toBeGreaterThan(65_536);
    expect(r.summary).toContain("| m1399 (lower) |");
    // Production is the first promotion: no chart yet (one point says nothing).
    expect(r.summary).not.toContain("```mermaid");
    expect(r.summary).toContain("_No chart yet: production is this model's first promotion.");
    expect(api.violations).toEqual([]);
  });

  it("exits 2 naming a missing policy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "track-run-compare-bad-"));
    const r = await compare(["x"], env(dir, ++pr, api.writeToken));
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(
      /::error::policy "\.track-run\/policy\.yml" does not exist; write the model's gate there/,
    );
  });
});

describe("the local GitHub API server", () => {
  it("refuses and records a request GitHub's OpenAPI description does not allow", async () => {
    const api = await startGitHubApi();
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${api.url}${path}`, {
          method: "POST",
          headers: { authorization: `token ${api.writeToken}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      expect((await post("/repos/acme/models/statuses/abc", { state: "passed" })).status).toBe(422);
      expect((await post("/repos/acme/models/issues/1/comments", { text: "hi" })).status).toBe(422);
      expect((await fetch(`${api.url}/repos/acme/models/issues/x/comments`)).status).toBe(422);
      expect((await fetch(`${api.url}/repos/acme/models/nothing-here`)).status).toBe(404);
      expect(api.violations).toEqual([
        expect.stringMatching(
          /^POST \/repos\/\{owner\}\/\{repo\}\/statuses\/\{sha\}: body .*"allowedValues":\["error","failure","pending","success"\]/,
        ),
        expect.stringMatching(
          /^POST \/repos\/\{owner\}\/\{repo\}\/issues\/\{issue_number\}\/comments: body .*"missingProperty":"body"/,
        ),
        expect.stringMatching(
          /^GET \/repos\/\{owner\}\/\{repo\}\/issues\/\{issue_number\}\/comments: path parameter issue_number=x/,
        ),
        "GET /repos/acme/models/nothing-here: not in GitHub's REST API",
      ]);
      expect(api.statuses).toEqual([]);
    } finally {
      await api.close();
    }
  });
});
