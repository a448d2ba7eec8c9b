// The workflows users copy, read as GitHub reads them: least permissions, third-party actions
// pinned by commit, this repository's actions given only the inputs they declare, and the pull
// request workflow never sending a fork to the self-hosted GPU runners on its own; attestations
// written only by the run tracked on push to main.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = new URL("..", import.meta.url).pathname;
const dir = join(root, ".github/workflows");
const files = readdirSync(dir).filter((f) => f.endsWith(".yml"));

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}
interface Job {
  if?: string;
  "runs-on": string | string[];
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: unknown;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}
interface ActionYml {
  inputs?: Record<string, { required?: boolean; default?: string }>;
  runs: { using: string; main: string };
}

const read = (f: string) => parse(readFileSync(join(dir, f), "utf8")) as Workflow;
const action = (path: string) => parse(readFileSync(join(root, path, "action.yml"), "utf8")) as ActionYml;

describe("workflows", () => {
  it.each(files)("%s: contents: read at the top, more only per job", (f) => {
    const w = read(f);
    expect(w.permissions).toEqual({ contents: "read" });
  });

  it.each(files)("%s: every action pinned, local actions given declared inputs only", (f) => {
    const text = readFileSync(join(dir, f), "utf8");
    for (const [name, job] of Object.entries(read(f).jobs)) {
      for (const step of job.steps) {
        if (!step.uses) continue;
        if (step.uses.startsWith("./")) {
          const a = action(step.uses);
          const declared = Object.keys(a.inputs ?? {});
          for (const k of Object.keys(step.with ?? {}))
            expect(declared, `${name}: ${step.uses} input ${k}`).toContain(k);
          for (const [k, v] of Object.entries(a.inputs ?? {}))
            if (v.required)
              expect(Object.keys(step.with ?? {}), `${name}: ${step.uses} needs ${k}`).toContain(k);
        } else {
          expect(step.uses, `${name}: pin ${step.uses} by commit`).toMatch(
            /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/,
          );
          expect(text).toMatch(new RegExp(`${step.uses.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} # v\\d`));
        }
      }
    }
  });

  it("the pull request workflow keeps forks off the self-hosted GPU runners unless labelled", () => {
    const w = read("train-pr.yml");
    for (const [name, job] of Object.entries(w.jobs)) {
      const runsOn = ([] as string[]).concat(job["runs-on"]);
      if (!runsOn.includes("self-hosted")) continue;
      expect(job.if, name).toContain("github.event.pull_request.head.repo.full_name == github.repository");
      expect(job.if, name).toContain("'safe-to-train'");
    }
    expect(JSON.stringify(w.on)).not.toContain("pull_request_target");
  });

  it("attestations: write only where the root action tracks a run on push, never for pull requests", () => {
    for (const f of files) {
      const w = read(f);
      const events = typeof w.on === "string" ? [w.on] : Object.keys(w.on as object);
      const pullRequest = events.some((e) => e.startsWith("pull_request"));
      for (const [name, job] of Object.entries(w.jobs)) {
        const track = job.steps.find((s) => s.uses === "./");
        const granted = job.permissions?.attestations;
        if (granted === undefined) {
          // The root action would try to store and warn: a job without the permission turns it off.
          if (track) expect(track.with?.attest, `${f} ${name}`).toBe(false);
          continue;
        }
        expect(granted, `${f} ${name}`).toBe("write");
        expect(track, `${f} ${name}: attestations: write without the root action`).toBeDefined();
        expect(pullRequest, `${f} ${name}: attestations: write on a pull request`).toBe(false);
        expect(events, `${f} ${name}`).toContain("push");
        expect(job.if ?? "", `${f} ${name}`).toContain("github.event_name == 'push'");
      }
    }
  });

  it("every action in this repository runs on node24 from a bundled file that exists", () => {
    const paths = [".", ...readdirSync(join(root, "actions")).map((d) => `actions/${d}`)].filter((p) =>
      existsSync(join(root, p, "action.yml")),
    );
    expect(paths.length).toBeGreaterThanOrEqual(5);
    for (const p of paths) {
      const a = action(p);
      expect(a.runs.using, p).toBe("node24");
      expect(existsSync(join(root, p, a.runs.main)), `${p}: ${a.runs.main}`).toBe(true);
    }
  });
});
