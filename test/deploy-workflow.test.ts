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
  it("verifies the model file before the push to serving, with read-only permissions", () => {
    const w = read("deploy.yml");
    expect(Object.keys(w.on).sort()).toEqual(["workflow_dispatch", "workflow_run"]);
    expect((w.on.workflow_run as { workflows: string[] }).workflows).toEqual(["promote"]);
    const job = w.jobs.deploy!;
    expect(job.permissions).toEqual({ contents: "read", actions: "read" });
    const download = job.steps.findIndex((s) => s.uses?.startsWith("actions/download-artifact@"));
    const verify = job.steps.findIndex((s) => s.uses === "./actions/verify");
    const push = job.steps.findIndex((s) => s.run?.includes("deploying"));
    expect(download).toBeGreaterThanOrEqual(0);
    expect(verify).toBeGreaterThan(download);
    expect(push).toBeGreaterThan(verify);
    const v = job.steps[verify]!;
    expect(v.with).toMatchObject({ model: "spam-filter", environment: "production" });
    // The file pushed is the file verified, and what it names comes from verify's outputs.
    expect(job.steps[push]!.env?.MODEL_FILE).toBe(v.with?.file);
    expect(job.steps[push]!.env?.RUN_ID).toContain("steps.verify.outputs.run-id");
    expect(job.steps[push]!.run).not.toMatch(/\$\{\{/);
  });

  it("the promote workflow uploads the model it trained, under the name deploy.yml downloads", () => {
    const upload = read("promote.yml").jobs.train!.steps.find((s) =>
      s.uses?.startsWith("actions/upload-artifact@"),
    );
    const download = read("deploy.yml").jobs.deploy!.steps.find((s) =>
      s.uses?.startsWith("actions/download-artifact@"),
    );
    expect(upload?.with?.name).toBe("model");
    expect(download?.with?.name).toBe(upload?.with?.name);
    expect(upload?.with?.path).toMatch(/\/model\.json$/);
  });
});
