// End to end, the way the runner runs the bundled actions (INPUT_*, GITHUB_OUTPUT,
// GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH with real event payloads, GITHUB_API_URL at the local API
// server, RUNNER_TEMP), on a clone of this repository and its spam-filter example:
//   push to main: track -> promote (production #1)
//   pull request (params.json: 4 epochs): track x2 (a seed matrix) -> compare: comment + status
//   merge: promote the candidate (production #2) -> reproduce it: bitwise -> verify its model file;
//   deploy: on a fresh clone at another path, pull the production model by its OCI artifact's digest
//   from the registry on 127.0.0.1:5000 and verify it (and refuse a changed byte, a model never
//   promoted, and production once invalidated).
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAction } from "../actions/test-harness.js";
import { git } from "../packages/core/test/helpers.js";
import { type GitHubApiServer, startGitHubApi } from "./servers/github-api-server.js";

const root = new URL("..", import.meta.url).pathname;
const dist = (name: string) => join(root, "dist", name, "index.js");
const engine = spawnSync("docker", ["version"], { stdio: "ignore" }).status === 0;
const cli = join(root, "packages/cli/bin/track-run.js");
const registryUp = await fetch("http://127.0.0.1:5000/v2/").then(
  (r) => r.ok,
  () => false,
);
if (!registryUp && process.env.CI === "true")
  throw new Error("no registry on 127.0.0.1:5000: .ci/run starts one");

describe.skipIf(!engine)("the whole story through the bundled actions", () => {
  let api: GitHubApiServer;
  beforeAll(async () => {
    api = await startGitHubApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it("push -> production #1; pull request -> matrix, comment, status; merge -> production #2; reproduce", async () => {
    const top = mkdtempSync(join(tmpdir(), "track-run-story-"));
    const repo = join(top, "models");
    expect(spawnSync("git", ["clone", "-q", root, repo]).status).toBe(0);
    git(repo, "checkout", "-q", "-B", "main");
    symlinkSync(join(root, "node_modules"), join(repo, "node_modules"));
    expect(spawnSync(process.execPath, ["examples/spam-filter/prepare.mjs"], { cwd: repo }).status).toBe(0);
    const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const key = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    mkdirSync(join(repo, ".track-run"), { recursive: true });
    writeFileSync(
      join(repo, ".track-run/trust.json"),
      JSON.stringify({
        keys: [{ name: "ci", publicKey: pair.publicKey.export({ type: "spki", format: "pem" }).toString() }],
      }),
    );
    const policy = "examples/spam-filter/policy.yml";
    // Outputs pushed as OCI artifacts to the local registry, when it runs.
    const artifacts = registryUp
      ? `oci://127.0.0.1:5000/track-run-story/models-${randomBytes(4).toString("hex")}`
      : undefined;
    let runNumber = 100;
    const env = (event: string, payload: object, sha: string) => {
      const file = join(top, `event-${++runNumber}.json`);
      writeFileSync(file, JSON.stringify(payload));
      return {
        GITHUB_ACTIONS: "true",
        GITHUB_API_URL: api.url,
        GITHUB_SERVER_URL: "https://github.com",
        GITHUB_REPOSITORY: "acme/models",
        GITHUB_EVENT_NAME: event,
        GITHUB_EVENT_PATH: file,
        GITHUB_SHA: sha,
        GITHUB_RUN_ID: String(runNumber),
        GITHUB_ACTOR: "octo-dev",
        GITHUB_WORKSPACE: repo,
        TRACK_RUN_CACHE: join(top, "cache"),
      };
    };
    const act = (name: string, inputs: Record<string, string>, e: NodeJS.ProcessEnv) =>
      runAction(dist(name), inputs, { cwd: repo, env: e, runnerTemp: mkdtempSync(join(top, "runner-")) });
    const track = (e: NodeJS.ProcessEnv, seed?: number) =>
      act(
        "track",
        {
          config: "examples/spam-filter/track-run.yml",
          "signing-key": key,
          ...(seed ? { seed: String(seed) } : {}),
          ...(artifacts ? { artifacts } : {}),
        },
        e,
      );

    // Push to main: train, then promote (production #1).
    const mainSha = git(repo, "rev-parse", "HEAD").trim();
    const pushEnv = env("push", { ref: "refs/heads/main", after: mainSha }, mainSha);
    const base = await track(pushEnv);
    expect(base.stdout).not.toMatch(/::error::/);
    expect(base.code).toBe(0);
    expect(base.summary).toMatch(/<td>accuracy<\/td><td>test<\/td><td>0\.975349<\/td>/);
    expect(base.summary).toContain("(1 file, 34082073 bytes)");
    const first = await act(
      "promote",
      {
        run: base.outputs["run-id"]!,
        model: "spam-filter",
        policy,
        environment: "production",
        "signing-key": key,
      },
      pushEnv,
    );
    expect(first.stdout).not.toMatch(/::error::/);
    expect(first.outputs).toMatchObject({ promoted: "true", seq: "1" });

    // A pull request: four epochs instead of three, trained as a seed matrix.
    git(repo, "checkout", "-q", "-b", "more-epochs");
    const params = join(repo, "examples/spam-filter/params.json");
    writeFileSync(params, readFileSync(params, "utf8").replace('"epochs": 3', '"epochs": 4'));
    git(repo, "commit", "-q", "-am", "Train four epochs");
    const head = git(repo, "rev-parse", "HEAD").trim();
    const prEnv = env(
      "pull_request",
      {
        action: "synchronize",
        number: 7,
        pull_request: {
          number: 7,
          state: "open",
          title: "Train four epochs",
          user: { login: "octo-dev" },
          head: { ref: "more-epochs", sha: head, repo: { full_name: "acme/models", fork: false } },
          base: { ref: "main", sha: mainSha, repo: { full_name: "acme/models" } },
        },
        repository: { full_name: "acme/models", name: "models", owner: { login: "acme" } },
      },
      "e".repeat(40),
    );
    const matrix = await Promise.all([track(prEnv, 11), track(prEnv, 12)]);
    for (const m of matrix) expect(m.code, m.stdout).toBe(0);
    const candidates = matrix.map((m) => m.outputs["run-id"]!);
    const compare = await act(
      "compare",
      { runs: `commit:${head}`, policy, "github-token": api.writeToken },
      prEnv,
    );
    expect(compare.stdout).not.toMatch(/::error::/);
    expect(compare.code).toBe(0);
    expect(compare.outputs.verdict).toBe("pass");
    expect(compare.stdout).toContain(`against ${base.outputs["run-id"]}`);
    const comments = [...api.comments.values()].filter((c) => c.issue === 7);
    expect(comments).toHaveLength(1);
    const body = comments[0]!.body;
    expect(body).toMatch(
      /^<!-- track-run:compare model=spam-filter -->\n### ✅ \*\*spam-filter\*\*: the candidate passes the gate/,
    );
    expect(body).toMatch(
      /\| test\/accuracy \(higher\) \| 0\.9753 \| 0\.98\d+ ± 0\.000\d+ \(n=2\) \| \+0\.0\d+ \|/,
    );
    expect(body).toMatch(
      /- \*\*code\*\*: `[0-9a-f]{12}` → `[0-9a-f]{12}` \(1 file: `examples\/spam-filter\/params\.json`\)/,
    );
    expect(body).toMatch(/- \*\*param epochs\*\*: `3` → `4`/);
    // Production is the first promotion: a chart of one point would say nothing.
    expect(body).toContain("_No chart yet: production is this model's first promotion.");
    expect(api.statuses.at(-1)).toMatchObject({
      sha: head,
      context: "track-run/spam-filter",
      state: "success",
      target_url: `https://github.com/acme/models/actions/runs/${runNumber}`,
    });

    // Merged: promote the first seed's run (production #2), then reproduce it.
    git(repo, "checkout", "-q", "main");
    git(repo, "merge", "-q", "--ff-only", "more-epochs");
    const mergeEnv = env("push", { ref: "refs/heads/main", after: head }, head);
    const second = await act(
      "promote",
      { run: candidates[0]!, model: "spam-filter", policy, environment: "production", "signing-key": key },
      mergeEnv,
    );
    expect(second.outputs).toMatchObject({
      promoted: "true",
      seq: "2",
      "run-id": candidates[0],
      "previous-run": base.outputs["run-id"],
    });
    const pointer = JSON.parse(
      readFileSync(join(repo, ".track-run/ledger/models/spam-filter/production.json"), "utf8"),
    ) as { runId: string; promotedBy: Record<string, string> };
    expect(pointer.runId).toBe(candidates[0]);
    expect(pointer.promotedBy).toEqual({
      actor: "octo-dev",
      workflowRun: `https://github.com/acme/models/actions/runs/${runNumber}`,
      environment: "production",
    });
    const rep = await act("reproduce", { run: candidates[0]!, policy, "signing-key": key }, mergeEnv);
    expect(rep.stdout).not.toMatch(/::error::/);
    expect(rep.outputs.verdict).toBe("bitwise");
    expect(rep.summary).toContain(`✅ spam-filter run ${candidates[0]}: bitwise`);
    // The time per epoch is a curve: it differs from run to run and is listed, never deciding.
    expect(rep.summary).toMatch(/curve train\/epoch_seconds differs at \d+ of \d+ steps/);

    // Deploy: the production model's file verifies (its bitwise reproduction wrote the same bytes);
    // the replaced model and the other seed's do not, naming why.
    const model = (run: string) => join(repo, ".track-run/work", run, "outputs/model.json");
    const verify = (file: string) =>
      act("verify", { file, model: "spam-filter", policy, environment: "production" }, mergeEnv);
    const deployable = await verify(model(candidates[0]!));
    expect(deployable.stdout).not.toMatch(/::error::/);
    expect(deployable.outputs).toMatchObject({
      verified: "true",
      "run-id": candidates[0],
      commit: head,
      promotion: "2",
    });
    const replaced = await verify(model(base.outputs["run-id"]!));
    expect(replaced.code).toBe(1);
    expect(replaced.stdout).toContain(`promoted as #1 and replaced by #2 (run ${candidates[0]})`);
    const otherSeed = await verify(model(candidates[1]!));
    expect(otherSeed.code).toBe(1);
    expect(otherSeed.stdout).toContain(`run ${candidates[1]}, which was never promoted`);
    expect(api.violations).toEqual([]);
    if (!artifacts) return;

    // Deploy on another machine: a fresh clone at another path pulls the production model by the
    // digest of its OCI artifact (checked against the signed bundle attached to it) and verifies it.
    const ledgerDir = join(repo, ".track-run/ledger");
    const trust = join(repo, ".track-run/trust.json");
    const clone = join(mkdtempSync(join(tmpdir(), "track-run-story-deploy-")), "serving");
    expect(spawnSync("git", ["clone", "-q", repo, clone]).status).toBe(0);
    const pull = (run: string, out: string) => {
      const { digest } = JSON.parse(readFileSync(join(ledgerDir, "runs", run, "artifact.json"), "utf8")) as {
        digest: string;
      };
      const r = spawnSync(
        process.execPath,
        [cli, "pull", digest, "--from", artifacts, "--trust", trust, "--out", out, "--json"],
        { cwd: clone, encoding: "utf8" },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ runId: run, verifiedBy: "referrer" });
      return join(out, "model.json");
    };
    const deploy = (file: string) =>
      runAction(
        dist("verify"),
        { file, model: "spam-filter", policy, environment: "production", ledger: `dir:${ledgerDir}`, trust },
        {
          cwd: clone,
          env: { ...mergeEnv, GITHUB_WORKSPACE: clone, TRACK_RUN_CACHE: join(clone, "..", "cache") },
          runnerTemp: mkdtempSync(join(top, "runner-")),
        },
      );
    const pulled = pull(candidates[0]!, "production");
    expect(readFileSync(join(clone, pulled))).toEqual(readFileSync(model(candidates[0]!)));
    const served = await deploy(pulled);
    expect(served.stdout).not.toMatch(/::error::/);
    expect(served.outputs).toMatchObject({ verified: "true", "run-id": candidates[0], promotion: "2" });
    const bytes = readFileSync(join(clone, pulled));
    bytes[bytes.length - 2]! ^= 1;
    writeFileSync(join(clone, "changed.json"), bytes);
    const changed = await deploy("changed.json");
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(/::error::changed\.json is not the production model of spam-filter/);
    const never = await deploy(pull(candidates[1]!, "other-seed"));
    expect(never.code).toBe(1);
    expect(never.stdout).toContain(`run ${candidates[1]}, which was never promoted`);
    // Production invalidated (its data found bad): the same pulled file no longer deploys.
    writeFileSync(join(top, "ci.key"), key);
    const inv = spawnSync(
      process.execPath,
      [
        cli,
        "invalidate",
        candidates[0]!,
        "--reason",
        "trained on a leaked test set",
        "--key",
        join(top, "ci.key"),
      ],
      { cwd: repo, encoding: "utf8" },
    );
    expect(inv.status, inv.stderr).toBe(0);
    const invalidated = await deploy(pulled);
    expect(invalidated.code).toBe(1);
    expect(invalidated.stdout).toContain("trained on a leaked test set");
  });
});
