// compare, promote, rollback, log, diff, lineage: the ledger's commands.
import type { RunManifest } from "@track-run/core";
import { UsageError } from "@track-run/core/errors";
import type { CompareOutcome, LedgerStore } from "@track-run/core/ledger";
import { describeRule } from "@track-run/core/policy";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { ledgerFor, readPolicy, readTrust } from "../trust.js";
import { localSigningPlan } from "./run.js";

interface TrustFlags {
  trust?: string;
  trustedKey?: string[];
  trustedRoot?: string;
}

const trustFrom = (f: TrustFlags) =>
  readTrust({
    ...(f.trustedKey ? { trustedKeys: f.trustedKey } : {}),
    ...(f.trust ? { trust: f.trust } : {}),
    ...(f.trustedRoot ? { trustedRoot: f.trustedRoot } : {}),
  });

function withTrustOptions(c: Command): Command {
  return c
    .option("--ledger <URI>", "where runs are recorded (default dir:.track-run/ledger; git:https://…#BRANCH)")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json when present)")
    .option("--trusted-key <PUB...>", "a public key trusted to sign runs, repeatable")
    .option("--trusted-root <FILE>", "Sigstore trusted root for keyless records");
}

const STAGE_ORDER = ["test", "validation", undefined, "train"];

/** A number as people read it: at most 6 significant digits, no trailing zeros. */
const short = (x: number | undefined) => (x === undefined ? "–" : String(Number(x.toPrecision(6))));

function verdictText(o: CompareOutcome): string {
  const v = o.verdict;
  const lines = [
    `${v.model}: ${v.pass ? "PASS" : "FAIL"}${v.firstModel ? " (first model: absolute bounds and provenance only)" : ` against production ${v.baselineRuns.join(", ")}`}`,
  ];
  for (const r of v.rules) {
    lines.push(
      `  ${r.pass ? "ok  " : "FAIL"} ${describeRule(r)}${r.value !== undefined ? ` [value ${short(r.value)}${r.baseline !== undefined ? `, baseline ${short(r.baseline)}, delta ${short(r.delta)}` : ""}${r.threshold ? `, rule ${r.threshold}` : ""}]` : ""}`,
    );
  }
  return lines.join("\n");
}

/** A recorded run's manifest, or undefined when it is missing or unreadable (listings skip it). */
async function loadManifest(ledger: LedgerStore, runId: string): Promise<RunManifest | undefined> {
  const { readManifest } = await import("@track-run/core/ledger");
  return readManifest(ledger, runId).catch(() => undefined);
}

export function registerLedger(program: Command, run: CommandRunner): void {
  withTrustOptions(
    program
      .command("compare")
      .description(
        "judge candidate runs against production (or a baseline run) by the model's policy; exit 0 pass, 1 fail",
      )
      .argument(
        "<RUN...>",
        "one run, or several runs of one candidate (a seed matrix); commit:SHA for every run at a commit",
      )
      .option("--baseline <production|RUN>", "what to compare with", "production")
      .option("--policy <FILE>", "the model's gate (default .track-run/policy.yml)")
      .option("--markdown", "print the report as markdown (what the pull-request comment shows)"),
  )
    .addOption(jsonOption())
    .action(
      (
        runs: string[],
        f: TrustFlags & {
          ledger?: string;
          baseline: string;
          policy?: string;
          markdown?: boolean;
          json?: boolean;
        },
      ) =>
        run(f, async (out) => {
          const policy = (await readPolicy(f.policy, true))!;
          const ledger = await ledgerFor(f.ledger ?? readEnvironment().ledger);
          const { compareWithProduction, resolveRuns } = await import("@track-run/core/ledger");
          const outcome = await compareWithProduction({
            ledger,
            policy,
            candidates: await resolveRuns(ledger, policy.model, runs),
            baseline: f.baseline,
            trust: await trustFrom(f),
            repo: ".",
          });
          if (f.markdown) {
            const { renderReport } = await import("@track-run/core/report");
            process.stdout.write(
              `${renderReport({ verdict: outcome.verdict, ...(outcome.diff ? { diff: outcome.diff } : {}), history: outcome.history })}\n`,
            );
          } else out.result(outcome, () => verdictText(outcome));
          return outcome.verdict.pass ? 0 : 1;
        }),
    );

  withTrustOptions(
    program
      .command("promote")
      .description(
        "put a run in production: re-verify, re-run the gate against production now, one compare-and-swap, a signed promotion record",
      )
      .argument("<RUN>", "the run to promote")
      .requiredOption("--model <NAME>", "the model")
      .option("--policy <FILE>", "the model's gate (default .track-run/policy.yml)")
      .option("--environment <NAME>", "the deployment environment, recorded (GitHub: the job's environment)")
      .option("--key <FILE>", "sign the promotion record with this key")
      .option("--keyless", "sign the promotion record with Sigstore"),
  )
    .addOption(jsonOption())
    .action(
      (
        runId: string,
        f: TrustFlags & {
          model: string;
          ledger?: string;
          policy?: string;
          environment?: string;
          key?: string;
          keyless?: boolean;
          json?: boolean;
        },
      ) =>
        run(f, async (out) => {
          const policy = (await readPolicy(f.policy, true))!;
          if (policy.model !== f.model)
            throw new UsageError("usage", `the policy is for model ${policy.model}, not ${f.model}`);
          const ledger = await ledgerFor(f.ledger ?? readEnvironment().ledger);
          const { promoteRun } = await import("@track-run/core/ledger");
          const { workflowRunFromEnvironment } = await import("@track-run/core/github");
          const workflowRun = workflowRunFromEnvironment(process.env);
          const r = await promoteRun({
            ledger,
            policy,
            runId,
            trust: await trustFrom(f),
            signing: await localSigningPlan(f, out),
            by: {
              ...((process.env.GITHUB_ACTOR ?? process.env.USER)
                ? { actor: (process.env.GITHUB_ACTOR ?? process.env.USER)! }
                : {}),
              ...(workflowRun ? { workflowRun } : {}),
              ...(f.environment ? { environment: f.environment } : {}),
            },
          });
          out.result(r, () =>
            r.promoted
              ? `promoted ${runId} to production of ${f.model} (#${r.pointer!.seq}, previous ${r.pointer!.previous?.runId ?? "none"})`
              : `NOT promoted: ${r.reason}\n${verdictText({ verdict: r.verdict, history: {} })}`,
          );
          return r.promoted ? 0 : 1;
        }),
    );

  program
    .command("rollback")
    .description("restore the previous production run, as a new (rollback) promotion")
    .requiredOption("--model <NAME>", "the model")
    .option("--ledger <URI>", "where runs are recorded")
    .option("--key <FILE>", "sign the record with this key")
    .option("--keyless", "sign the record with Sigstore")
    .addOption(jsonOption())
    .action((f: { model: string; ledger?: string; key?: string; keyless?: boolean; json?: boolean }) =>
      run(f, async (out) => {
        const ledger = await ledgerFor(f.ledger ?? readEnvironment().ledger);
        const { rollbackModel } = await import("@track-run/core/ledger");
        const p = await rollbackModel({
          ledger,
          model: f.model,
          signing: await localSigningPlan(f, out),
          by: process.env.GITHUB_ACTOR ? { actor: process.env.GITHUB_ACTOR } : {},
        });
        out.result(p, () => `rolled back ${f.model} to ${p.runId} (#${p.seq}; was ${p.previous?.runId})`);
        return 0;
      }),
    );

  program
    .command("log")
    .description("the recorded runs: run, model, commit, status, key metrics, and which is in production")
    .option("--ledger <URI>", "where runs are recorded")
    .option("--model <NAME>", "only this model's runs")
    .addOption(jsonOption())
    .action((f: { ledger?: string; model?: string; json?: boolean }) =>
      run(f, async (out) => {
        const ledger = await ledgerFor(f.ledger ?? readEnvironment().ledger);
        const rows: Array<{
          runId: string;
          model: string;
          commit?: string;
          status: string;
          metrics: string;
          production: boolean;
          reproductionOf?: string;
        }> = [];
        const production = new Map<string, string | undefined>();
        for (const id of await ledger.listRuns()) {
          const m = await loadManifest(ledger, id);
          if (!m || (f.model && m.model !== f.model)) continue;
          if (!production.has(m.model))
            production.set(m.model, (await ledger.readProduction(m.model))?.runId);
          rows.push({
            runId: id,
            model: m.model,
            ...(m.code.commit ? { commit: m.code.commit.slice(0, 12) } : {}),
            status: m.status.state,
            // Key metrics: the most final stage first (test, validation, unstaged, train).
            metrics: [...m.metrics.final]
              .sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage))
              .slice(0, 3)
              .map((x) => `${x.stage ? `${x.stage}/` : ""}${x.name}=${Number(x.value.toPrecision(4))}`)
              .join(" "),
            production: production.get(m.model) === id,
            ...(m.links?.reproductionOf ? { reproductionOf: m.links.reproductionOf } : {}),
          });
        }
        out.result(
          rows,
          () =>
            rows
              .map(
                (r) =>
                  `${r.production ? "*" : " "} ${r.runId}  ${r.model.padEnd(16)} ${(r.commit ?? "content").padEnd(12)} ${r.status.padEnd(9)} ${r.metrics}${r.reproductionOf ? `  (reproduces ${r.reproductionOf})` : ""}`,
              )
              .join("\n") + (rows.length ? "\n(* in production)" : "no runs recorded"),
        );
        return 0;
      }),
    );

  program
    .command("diff")
    .description(
      "why did this metric change? code, data files, image, params, host and GPU facts, metric deltas between two runs",
    )
    .argument("<RUN_A>", "the earlier run")
    .argument("<RUN_B>", "the later run")
    .option("--ledger <URI>", "where runs are recorded")
    .addOption(jsonOption())
    .action((a: string, b: string, f: { ledger?: string; json?: boolean }) =>
      run(f, async (out) => diffCommand(a, b, f, out)),
    );

  program
    .command("lineage")
    .description(
      "which run produced a file with this sha256 and from what; which runs used a bag with this digest",
    )
    .argument("<DIGEST>", "sha256 (hex or sha256:hex) of an output file or a bag")
    .option("--ledger <URI>", "where runs are recorded")
    .addOption(jsonOption())
    .action((digest: string, f: { ledger?: string; json?: boolean }) =>
      run(f, async (out) => {
        const hex = digest.replace(/^sha256:/, "").toLowerCase();
        if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError("usage", `"${digest}" is not a sha256 digest`);
        const ledger = await ledgerFor(f.ledger ?? readEnvironment().ledger);
        const produced: Array<{
          runId: string;
          path: string;
          from: { code?: string; data: string[]; image?: string };
        }> = [];
        const used: Array<{ runId: string; bag: string }> = [];
        for (const id of await ledger.listRuns()) {
          const m = await loadManifest(ledger, id);
          if (!m) continue;
          for (const o of m.outputs.filter((x) => x.sha256 === hex)) {
            produced.push({
              runId: id,
              path: o.path,
              from: {
                ...(m.code.commit ? { code: m.code.commit } : {}),
                data: m.data.map((d) => `${d.name} ${d.digest}`),
                ...(m.environment.image
                  ? { image: m.environment.image.repoDigest ?? m.environment.image.id! }
                  : {}),
              },
            });
          }
          for (const d of m.data.filter((x) => x.digest === `sha256:${hex}`))
            used.push({ runId: id, bag: d.name });
        }
        out.result(
          { produced, used },
          () =>
            [
              ...produced.map(
                (p) =>
                  `produced by ${p.runId} as ${p.path}, from commit ${p.from.code ?? "?"}, image ${p.from.image ?? "host"}, data ${p.from.data.join(", ") || "none"}`,
              ),
              ...used.map((u) => `bag used by ${u.runId} as ${u.bag}`),
            ].join("\n") || "no run produced or used it",
        );
        return 0;
      }),
    );
}

async function diffCommand(a: string, b: string, f: { ledger?: string }, out: Output): Promise<number> {
  const ledger = await ledgerFor(f.ledger ?? readEnvironment().ledger);
  const { loadRun } = await import("@track-run/core/ledger");
  const [ma, mb] = [(await loadRun(ledger, a)).manifest, (await loadRun(ledger, b)).manifest];
  const { diffRecorded } = await import("@track-run/core/ledger");
  const d = await diffRecorded(ledger, ma, mb, ".");
  out.result(d, () => {
    const l: string[] = [`${a} -> ${b}`];
    l.push(
      d.code.changed
        ? `code     ${d.code.from} -> ${d.code.to}${d.code.files ? ` (${d.code.files.join(", ")})` : ""}`
        : "code     same",
    );
    for (const x of d.data) {
      l.push(
        `data     ${x.name}: ${x.change}${x.files ? ` (+${x.files.added.length} -${x.files.removed.length} ~${x.files.changed.length}: ${[...x.files.added.map((p) => `+${p}`), ...x.files.removed.map((p) => `-${p}`), ...x.files.changed.map((p) => `~${p}`)].slice(0, 8).join(" ")})` : ""}`,
      );
    }
    l.push(d.image.changed ? `image    ${d.image.from} -> ${d.image.to}` : "image    same");
    for (const p of d.params)
      l.push(`param    ${p.key}: ${JSON.stringify(p.from)} -> ${JSON.stringify(p.to)}`);
    for (const e of d.environment) l.push(`${e.fact.padEnd(8)} ${e.from} -> ${e.to}`);
    for (const m of d.metrics)
      l.push(
        `metric   ${m.name}: ${m.from ?? "-"} -> ${m.to ?? "-"}${m.delta !== undefined ? ` (${m.delta >= 0 ? "+" : ""}${Number(m.delta.toPrecision(4))})` : ""}`,
      );
    return l.join("\n");
  });
  return 0;
}
