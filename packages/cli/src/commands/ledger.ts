import { UsageError } from "@track-run/core/errors";
import type { CompareOutcome, LedgerReader, RunRecord } from "@track-run/core/ledger";
import { assertName } from "@track-run/core/names";
import { describeRule } from "@track-run/core/policy";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import { displaySafe, type Output, terminalSafe } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { registryAccess } from "../registry.js";
import { indexFor, ledgerFor, readerFor, readPolicy, readTrust } from "../trust.js";
import { cacheDirFor } from "./bag.js";
import { localSigningPlan } from "./run.js";

export interface TrustFlags {
  trust?: string;
  trustedKey?: string[];
  trustedRoot?: string;
}

/** The flags of a command that writes a signed promotion record of a model: promote, rollback. */
type SignedPromotionFlags = TrustFlags & {
  model: string;
  ledger?: string;
  key?: string;
  keyless?: boolean;
  tsa?: string;
  rekor?: string;
  json?: boolean;
};

const trustFrom = (f: TrustFlags) =>
  readTrust({
    ...(f.trustedKey ? { trustedKeys: f.trustedKey } : {}),
    ...(f.trust ? { trust: f.trust } : {}),
    ...(f.trustedRoot ? { trustedRoot: f.trustedRoot } : {}),
  });

export function withTrustOptions(c: Command): Command {
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
  for (const w of v.warnings ?? []) lines.push(`  WARNING ${w}`);
  for (const r of v.rules) {
    lines.push(
      `  ${r.pass ? "ok  " : "FAIL"} ${describeRule(r)}${r.value !== undefined ? ` [value ${short(r.value)}${r.baseline !== undefined ? `, baseline ${short(r.baseline)}, delta ${short(r.delta)}` : ""}${r.threshold ? `, rule ${r.threshold}` : ""}]` : ""}`,
    );
  }
  return lines.join("\n");
}

/** How a record's trust reads beside it in a listing (nothing for a verified one). */
export const trustMark = (r: Pick<RunRecord, "trust">): string =>
  r.trust === "verified" ? "" : ` [${r.trust.toUpperCase()}]`;

/** The ledger at one snapshot through the verified reader, with the trust flags of a command. */
export async function openReader(f: TrustFlags & { ledger?: string }): Promise<LedgerReader> {
  return readerFor(f.ledger ?? readEnvironment().ledger, await trustFrom(f));
}

/** Notes on records that are shown but do not count (unsigned, untrusted, left out), on stderr. */
export function printNotes(out: Output, notes: readonly string[]): void {
  for (const n of notes) out.warn(n);
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
          for (const r of runs) if (!r.startsWith("commit:")) assertName("run", r, "compare RUN");
          if (f.baseline !== "production") assertName("run", f.baseline, "--baseline");
          const policy = (await readPolicy(f.policy, true))!;
          const reader = await openReader(f);
          const { compareWithProduction, resolveRuns } = await import("@track-run/core/ledger");
          const outcome = await compareWithProduction({
            reader,
            policy,
            candidates: await resolveRuns(reader, policy.model, runs, {
              verifiedOnly: Boolean(policy.provenance?.signed),
            }),
            baseline: f.baseline,
            repo: ".",
            cacheDir: cacheDirFor(),
          });
          printNotes(out, outcome.notes);
          if (f.markdown) {
            const { renderReport } = await import("@track-run/core/report");
            process.stdout.write(
              `${terminalSafe(renderReport({ verdict: outcome.verdict, ...(outcome.diff ? { diff: outcome.diff } : {}), history: outcome.history, candidateSeeds: outcome.seeds }))}\n`,
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
      .option(
        "--tag [NAME]",
        "once promoted, tag the run's outputs artifact and image in their registry (default tag: the environment, else production)",
      )
      .option("--key <FILE>", "sign the promotion record with this key")
      .option("--keyless", "sign the promotion record with Sigstore")
      .option(
        "--tsa <URL>",
        "RFC 3161 timestamp authority for a key-signed record (default: $TRACK_RUN_TSA_URL)",
      )
      .option("--rekor <URL>", "Rekor to log a key-signed record in (default: $TRACK_RUN_REKOR_URL)"),
  )
    .addOption(jsonOption())
    .action(
      (
        runId: string,
        f: SignedPromotionFlags & { policy?: string; environment?: string; tag?: string | boolean },
      ) =>
        run(f, async (out) => {
          assertName("run", runId, "promote RUN");
          assertName("model", f.model, "--model");
          if (typeof f.tag === "string" && !(await import("@track-run/core/oci")).TAG_PATTERN.test(f.tag))
            throw new UsageError(
              "usage",
              `--tag "${f.tag}" is not a registry tag: letters, digits, '_', '.' and '-', at most 128 characters`,
            );
          const policy = (await readPolicy(f.policy, true))!;
          if (policy.model !== f.model)
            throw new UsageError("usage", `the policy is for model ${policy.model}, not ${f.model}`);
          const store = await ledgerFor(f.ledger ?? readEnvironment().ledger);
          const index = await indexFor(store);
          const { promoteRun } = await import("@track-run/core/ledger");
          const { workflowRunFromEnvironment } = await import("@track-run/core/github");
          const workflowRun = workflowRunFromEnvironment(process.env);
          const r = await promoteRun({
            store,
            policy,
            runId,
            trust: await trustFrom(f),
            signing: await localSigningPlan(f, out),
            repo: ".",
            cacheDir: cacheDirFor(),
            ...(index ? { index } : {}),
            by: {
              ...((process.env.GITHUB_ACTOR ?? process.env.USER)
                ? { actor: (process.env.GITHUB_ACTOR ?? process.env.USER)! }
                : {}),
              ...(workflowRun ? { workflowRun } : {}),
              ...(f.environment ? { environment: f.environment } : {}),
            },
          });
          printNotes(out, r.notes);
          if (r.promoted && f.tag) {
            const tag = typeof f.tag === "string" ? f.tag : (f.environment ?? "production");
            const { tagPromotedRun } = await import("@track-run/core/oci");
            const tagged = await tagPromotedRun(await readerFor(store.uri, await trustFrom(f)), runId, tag, {
              access: await registryAccess(out),
              onStep: (m) => out.info(`track-run: ${m}`),
            });
            printNotes(out, tagged.notes);
            for (const t of [tagged.artifact, tagged.image]) if (t) out.info(`track-run: tagged ${t}`);
            Object.assign(r, { tagged });
          }
          out.result(r, () =>
            r.promoted
              ? `promoted ${runId} to production of ${f.model} (#${r.pointer!.seq}, previous ${r.pointer!.previous?.runId ?? "none"})`
              : `NOT promoted: ${r.reason}\n${verdictText({ verdict: r.verdict, history: {}, notes: [], seeds: [] })}`,
          );
          return r.promoted ? 0 : 1;
        }),
    );

  withTrustOptions(
    program
      .command("rollback")
      .description("restore the previous production run, as a new (rollback) promotion")
      .requiredOption("--model <NAME>", "the model")
      .option("--key <FILE>", "sign the record with this key")
      .option("--keyless", "sign the record with Sigstore")
      .option(
        "--tsa <URL>",
        "RFC 3161 timestamp authority for a key-signed record (default: $TRACK_RUN_TSA_URL)",
      )
      .option("--rekor <URL>", "Rekor to log a key-signed record in (default: $TRACK_RUN_REKOR_URL)"),
  )
    .addOption(jsonOption())
    .action((f: SignedPromotionFlags) =>
      run(f, async (out) => {
        assertName("model", f.model, "--model");
        const store = await ledgerFor(f.ledger ?? readEnvironment().ledger);
        const { rollbackModel } = await import("@track-run/core/ledger");
        const index = await indexFor(store);
        const p = await rollbackModel({
          store,
          ...(index ? { index } : {}),
          trust: await trustFrom(f),
          model: f.model,
          signing: await localSigningPlan(f, out),
          by: process.env.GITHUB_ACTOR ? { actor: process.env.GITHUB_ACTOR } : {},
        });
        out.result(p, () => `rolled back ${f.model} to ${p.runId} (#${p.seq}; was ${p.previous?.runId})`);
        return 0;
      }),
    );

  withTrustOptions(
    program
      .command("log")
      .description(
        "the recorded runs: run, model, commit, status, key metrics, which is in production, and each record's trust",
      )
      .option("--model <NAME>", "only this model's runs")
      .option(
        "-n, --limit <N>",
        "the newest N runs by finishing time; each model's production run is shown too",
        String(LOG_LIMIT),
      )
      .option("--all", "every run (instead of --limit)"),
  )
    .addOption(jsonOption())
    .action(
      (f: TrustFlags & { ledger?: string; model?: string; json?: boolean; limit: string; all?: boolean }) =>
        run(f, async (out) => {
          if (f.model !== undefined) assertName("model", f.model, "--model");
          const limit = f.all ? Number.POSITIVE_INFINITY : Number(f.limit);
          if (!f.all && (!Number.isInteger(limit) || limit < 1))
            throw new UsageError(
              "usage",
              `--limit "${f.limit}" is not a positive whole number; --all for every run`,
            );
          const reader = await openReader(f);
          const { rows, total } = await logRows(reader, f.model, limit, out);
          const anyProduction = rows.some((r) => r.production);
          out.result(
            rows,
            () =>
              rows
                .map((r) =>
                  r.trust === "damaged" && !r.model
                    ? `  ${displaySafe(r.runId)}  DAMAGED: ${displaySafe(r.problems.join("; "))}`
                    : `${r.production ? "*" : " "}${r.invalidated ? "!" : " "} ${displaySafe(r.runId)}  ${(r.model ?? "?").padEnd(16)} ${(r.commit ?? "content").padEnd(12)} ${(r.status ?? "?").padEnd(9)} ${keyMetrics(r.metrics)}${r.reproductionOf ? `  (reproduces ${r.reproductionOf})` : ""}${trustMark(r)}`,
                )
                .join("\n") +
              (rows.length ? (anyProduction ? "\n(* in production)" : "") : "no runs recorded") +
              (total > rows.length
                ? `\n(the newest ${Math.min(rows.length, limit)} of ${total} runs${rows.length > limit ? ", and production" : ""}: --limit N or --all for more)`
                : "") +
              (rows.some((r) => r.invalidated)
                ? "\n(! derived from an invalidated input: `track-run show RUN` names it and why)"
                : "") +
              (rows.some((r) => r.trust !== "verified")
                ? "\n([UNSIGNED], [UNTRUSTED] and [DAMAGED] records are shown but never count for a gate)"
                : ""),
          );
          return 0;
        }),
    );

  withTrustOptions(
    program
      .command("diff")
      .description(
        "why did this metric change? code, data files, image, params, host and GPU facts, metric deltas between two runs",
      )
      .argument("<RUN_A>", "the earlier run")
      .argument("<RUN_B>", "the later run"),
  )
    .addOption(jsonOption())
    .action((a: string, b: string, f: TrustFlags & { ledger?: string; json?: boolean }) =>
      run(f, async (out) => {
        assertName("run", a, "diff RUN_A");
        assertName("run", b, "diff RUN_B");
        return diffCommand(a, b, f, out);
      }),
    );

  withTrustOptions(
    program
      .command("lineage")
      .description(
        "where a run, a file or a dataset came from and what came of it, any number of hops: data, preparation runs, training runs, outputs, promotions, reproductions",
      )
      .argument(
        "<DIGEST|RUN>",
        "a run id, or a sha256 (hex or sha256:hex) of an output file, a file inside a bag, a bag digest or a payload identity",
      )
      .option("--up", "only what it came from (ancestors)")
      .option("--down", "only what came of it (descendants)")
      .option("--mermaid", "print a Mermaid flowchart (renders on GitHub in a ```mermaid block)"),
  )
    .addOption(jsonOption())
    .action(
      (
        ref: string,
        f: TrustFlags & { ledger?: string; json?: boolean; up?: boolean; down?: boolean; mermaid?: boolean },
      ) =>
        run(f, async (out) => {
          if (f.up && f.down)
            throw new UsageError("usage", "--up and --down together: leave both out for both ways");
          if (f.mermaid && f.json) throw new UsageError("usage", "--mermaid and --json together: choose one");
          const reader = await openReader(f);
          const { lineageMermaid, lineageTree, lineageView, markLineage } = await import(
            "@track-run/core/ledger"
          );
          const direction = f.up ? "up" : f.down ? "down" : "both";
          const { graph, roots, notes } = await reader.lineageFor(ref, direction);
          printNotes(out, notes);
          // Everything derived from an invalidated input is marked.
          markLineage(graph, await reader.invalidations());
          const view = lineageView(graph, roots, direction);
          if (f.mermaid) {
            process.stdout.write(`${terminalSafe(lineageMermaid(graph, view))}\n`);
            return 0;
          }
          out.result(view, () =>
            roots.length
              ? lineageTree(graph, roots, direction)
              : `no recorded run produced, used or holds ${ref}`,
          );
          return 0;
        }),
    );
}

/** The key metrics of a log line: the first three, the most final stage first. */
const keyMetrics = (xs: LogRow["metrics"]) =>
  xs
    .slice(0, 3)
    .map((x) => `${x.stage ? `${x.stage}/` : ""}${x.name}=${Number(x.value.toPrecision(4))}`)
    .join(" ");

interface LogRow {
  runId: string;
  trust: RunRecord["trust"];
  problems: string[];
  model?: string;
  commit?: string;
  status?: string;
  /** Every final metric, the most final stage first (test, validation, unstaged, train). */
  metrics: Array<{ name: string; stage?: string; value: number }>;
  production: boolean;
  reproductionOf?: string;
  /** The invalidated inputs it derives from (each naming the record and its reason). */
  invalidated?: string[];
}

/** How many runs `log` shows unless told otherwise. */
const LOG_LIMIT = 20;

/**
 * One row for each of the newest `limit` runs (of `model`), each read whole and verified, with
 * production from each model's verified chain; `total` counts the runs there are.
 */
async function logRows(
  reader: LedgerReader,
  model: string | undefined,
  limit: number,
  out: Output,
): Promise<{ rows: LogRow[]; total: number }> {
  const production = new Map<string, string | undefined>();
  const rows: LogRow[] = [];
  const { byFinish, describeMarks, describeUncounted, picks, productionWarnings } = await import(
    "@track-run/core/ledger"
  );
  const inv = await reader.invalidations();
  for (const r of inv.records) if (!r.counts) out.warn(describeUncounted(r));
  for (const w of productionWarnings(inv, model)) out.warn(`WARNING ${w}`);
  // A damaged record has no model: it is listed under any --model, so damage is never hidden.
  // Newest last: by finishing time (run ids begin with the second a run started), then run id.
  const listing = await reader.listing();
  const pick = model ? { modelOrNone: model } : {};
  const { entries: newest, total } = await listing.newest(pick, limit);
  // Each model's production run is shown too, however old: what is in production is always in the log.
  for (const m of await listing.models(pick))
    try {
      production.set(m, (await reader.production(m)).head?.pointer.runId);
    } catch (e) {
      out.warn((e as Error).message);
      production.set(m, undefined);
    }
  const shown = new Map(newest.map((e) => [e.runId, e]));
  for (const id of production.values()) {
    const e = id === undefined || shown.has(id) ? undefined : await listing.get(id);
    if (e && picks(e, pick)) shown.set(id!, e);
  }
  for (const e of [...shown.values()].sort(byFinish)) {
    const r = await reader.find(e.runId);
    if (!r) continue;
    // Shown with every control character escaped: one field is never a line of its own.
    const m = r.manifest && displaySafe(r.manifest);
    if (model && m && m.model !== model) continue;
    rows.push({
      runId: r.runId,
      trust: r.trust,
      problems: r.problems,
      ...(m ? { model: m.model, status: m.status.state } : {}),
      ...(m?.code.commit ? { commit: m.code.commit.slice(0, 12) } : {}),
      metrics: m
        ? [...m.metrics.final]
            .sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage))
            .map((x) => ({ name: x.name, ...(x.stage ? { stage: x.stage } : {}), value: x.value }))
        : [],
      production: Boolean(m && production.get(m.model) === r.runId),
      ...(m?.links?.reproductionOf ? { reproductionOf: m.links.reproductionOf } : {}),
    });
    const invalidated = describeMarks(inv.marks.get(`run:${r.runId}`));
    if (invalidated.length) rows[rows.length - 1]!.invalidated = invalidated;
    if (r.trust === "damaged") out.warn(`run ${r.runId} is damaged (${r.where}): ${r.problems.join("; ")}`);
  }
  return { rows, total };
}

async function diffCommand(
  a: string,
  b: string,
  f: TrustFlags & { ledger?: string },
  out: Output,
): Promise<number> {
  const reader = await openReader(f);
  const { loadRun, diffRecorded } = await import("@track-run/core/ledger");
  const [ra, rb] = [await loadRun(reader, a), await loadRun(reader, b)];
  for (const r of [ra, rb])
    if (r.trust !== "verified") out.warn(`run ${r.runId} is ${r.trust}: ${r.problems.join("; ")}`);
  const [ma, mb] = [ra.manifest, rb.manifest];
  const d = displaySafe(await diffRecorded(reader, ma, mb, "."));
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
