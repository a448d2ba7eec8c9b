// The deployment workflow users copy (deploy.yml): the push to serving runs only after
// actions/verify passed, in the same job, on the very file verify checked, with read-only
// permissions; the model comes from the promote workflow's upload.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = new URL("..", import.meta.url).pathname;
const read = (f: string) =>
  parse(readFileSync(join(root, ".github/workflows", f), "utf8")) as {
    on: Record<string, unknown>;
    jobs: Record<
      string,
      {
        permissions?: Record<string, string>;
        steps: Array<{
          id?: string;
          uses?: string;
          run?: string;
          with?: Record<string, string>;
          env?: Record<string, string>;
        }>;
      }
    >;
  };

describe("deploy.yml", () => {
  it("pulls the production model, verifies it, then pushes it to serving, with read-only permissions", () => {
    const w = read("deploy.yml");
    expect(Object.keys(w.on).sort()).toEqual(["workflow_dispatch", "workflow_run"]);
    expect((w.on.workflow_run as { workflows: string[] }).workflows).toEqual(["promote"]);
    const job = w.jobs.deploy!;
    expect(job.permissions).toEqual({ contents: "read", packages: "read" });
    const pull = job.steps.findIndex((s) => s.run?.includes("track-run pull"));
    const verify = job.steps.findIndex((s) => s.uses === "./actions/verify");
    const push = job.steps.findIndex((s) => s.run?.includes("deploying"));
    expect(pull).toBeGreaterThanOrEqual(0);
    expect(verify).toBeGreaterThan(pull);
    expect(push).toBeGreaterThan(verify);
    // The file verified is the file pulled, and the file pushed is the file verified.
    const out = /--out "\$RUNNER_TEMP\/(\S+)"/.exec(job.steps[pull]!.run!)?.[1];
    const v = job.steps[verify]!;
    expect(v.with?.file).toBe(`\${{ runner.temp }}/${out}/model.json`);
    expect(v.with).toMatchObject({ model: "spam-filter", environment: "production" });
    expect(job.steps[push]!.env?.MODEL_FILE).toBe(v.with?.file);
    expect(job.steps[push]!.env?.RUN_ID).toContain("steps.verify.outputs.run-id");
    // Expressions reach the scripts only through env, never spliced into them.
    for (const s of job.steps) if (s.run) expect(s.run).not.toMatch(/\$\{\{/);
  });

  it("the promote workflow pushes the outputs of the run it trains to the registry deploy.yml pulls from", () => {
    const train = read("promote.yml").jobs.train!;
    const track = train.steps.find((s) => s.uses === "./");
    expect(track?.with?.artifacts).toMatch(/^oci:\/\//);
    expect(train.permissions?.packages).toBe("write");
  });
});
