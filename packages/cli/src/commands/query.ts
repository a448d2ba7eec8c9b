import { UsageError } from "@track-run/core/errors";
import type { Command } from "commander";
import { type CommandRunner, jsonOption } from "../program.js";
import { openReader, printNotes, type TrustFlags, withTrustOptions } from "./ledger.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

const HELP = `
Keys (one set for filters, --agg, --sort and --group-by):
  param.NAME                  a parameter (param.lr; dotted names reach into nested ones)
  metric.[STAGE/]NAME         a final metric (metric.test/accuracy, metric.loss)
  min|mean|max|last|count:[STAGE/]NAME
                              an aggregate over a curve's steps (min:train/loss)
  label.KEY                   a label of the run
  data                        any data entry's payload identity or bag digest
  data.NAME                   the identity (else bag digest) of the data entry NAME
  info.FIELD                  a bag-info.txt field of a data entry
  model status trust commit run started finished wall

Filters: KEY OP VALUE, OP one of = != < <= > >= ~ (contains); numbers compare as
numbers; commit=SHA matches a prefix; every filter must hold.

Examples:
  track-run query param.lr>0.01 metric.test/accuracy>=0.9
  track-run query data=sha256:… --sort metric.test/loss --limit 1
  track-run query data=sha256:… --agg mean:train/epoch_seconds --agg min:train/epoch_seconds --agg max:train/epoch_seconds
  track-run query --group-by model --sort min:train/loss --agg min:train/loss
  track-run query --ancestor-of MODEL_SHA256
  track-run query --derived-from sha256:… label.basin=Campos --json`;

interface QueryFlags extends TrustFlags {
  ledger?: string;
  json?: boolean;
  agg?: string[];
  sort?: string[];
  groupBy?: string;
  limit?: string;
  derivedFrom?: string;
  ancestorOf?: string;
  model?: string;
  status?: string;
  commit?: string;
  since?: string;
  until?: string;
}

function time(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new UsageError(
      "usage",
      `${flag} "${value}" is not a date or time; write e.g. 2026-01-31 or 2026-01-31T12:00:00Z`,
    );
  return new Date(t).toISOString();
}

export function registerQuery(program: Command, run: CommandRunner): void {
  withTrustOptions(
    program
      .command("query")
      .description(
        "filter, sort, group and aggregate the recorded runs by params, metrics, curves, labels, data, lineage, model, status, commit and time",
      )
      .argument(
        "[FILTER...]",
        "KEY OP VALUE, e.g. param.lr>0.01 metric.test/accuracy>=0.9 label.basin=Campos data=sha256:…",
      )
      .option(
        "--agg <FN:METRIC>",
        "a column: min, mean, max, last or count of a curve, e.g. min:train/loss (repeatable)",
        collect,
      )
      .option(
        "--sort <KEY>",
        "order by KEY (ascending; -KEY descending), repeatable; default -started",
        collect,
      )
      .option(
        "--group-by <KEY>",
        "one row per value of KEY: the group's first run in --sort order, with the group's size",
      )
      .option("--limit <N>", "at most N rows")
      .option("--derived-from <DIGEST|RUN>", "only runs derived from it, any number of hops")
      .option("--ancestor-of <DIGEST|RUN>", "only runs it was derived from, any number of hops")
      .option("--model <NAME>", "same as model=NAME")
      .option("--status <STATE>", "same as status=STATE (succeeded, failed, cancelled)")
      .option("--commit <SHA>", "same as commit=SHA (a prefix)")
      .option("--since <TIME>", "runs started at or after TIME")
      .option("--until <TIME>", "runs started at or before TIME")
      .addHelpText("after", HELP),
  )
    .addOption(jsonOption())
    .action((filters: string[], f: QueryFlags) =>
      run(f, async (out) => {
        const q = await import("@track-run/core/ledger");
        const parsed = filters.map(q.parseFilter);
        if (f.model !== undefined) parsed.push({ key: "model", op: "=", value: f.model });
        if (f.status !== undefined) parsed.push({ key: "status", op: "=", value: f.status });
        if (f.commit !== undefined) parsed.push({ key: "commit", op: "=", value: f.commit });
        const columns = (f.agg ?? []).map((a) => {
          const k = q.checkKey(a, `--agg "${a}"`);
          if (!/^(min|mean|max|last|count):/.test(k))
            throw new UsageError(
              "usage",
              `--agg "${a}" is not FN:METRIC; e.g. --agg min:train/loss (FN: min, mean, max, last, count)`,
            );
          return k;
        });
        const sort = (f.sort ?? []).map(q.parseSort);
        const groupBy = f.groupBy === undefined ? undefined : q.checkKey(f.groupBy, "--group-by");
        let limit: number | undefined;
        if (f.limit !== undefined) {
          limit = Number(f.limit);
          if (!Number.isInteger(limit) || limit < 1)
            throw new UsageError("usage", `--limit "${f.limit}" is not a positive whole number`);
        }
        const since = time(f.since, "--since");
        const until = time(f.until, "--until");
        const reader = await openReader(f);
        // The index narrows the runs the filters may match; the filters then run on each record.
        const records = await reader.queryCandidates(parsed, {
          ...(sort[0] ? { sort: sort[0] } : {}),
          ...(limit !== undefined ? { limit } : {}),
          whole: !groupBy && !since && !until && f.derivedFrom === undefined && f.ancestorOf === undefined,
        });
        let runs: Set<string> | undefined;
        const pick = async (ref: string, down: boolean) => {
          const { graph, roots, notes } = await reader.lineageFor(ref, down ? "down" : "up");
          printNotes(out, notes);
          const ids = new Set<string>();
          for (const root of roots)
            for (const id of (down ? q.descendants : q.ancestors)(graph, root)) {
              const n = graph.nodes.get(id);
              if (n?.kind === "run" && n.runId) ids.add(n.runId);
            }
          return ids;
        };
        if (f.derivedFrom !== undefined) runs = await pick(f.derivedFrom, true);
        if (f.ancestorOf !== undefined) {
          const up = await pick(f.ancestorOf, false);
          runs = runs ? new Set([...runs].filter((r) => up.has(r))) : up;
        }
        for (const r of records)
          if (r.trust === "damaged")
            out.warn(`run ${r.runId} is damaged (${r.where}) and left out: ${r.problems.join("; ")}`);
        const rows = q.queryRuns(records, {
          filters: parsed,
          columns,
          ...(sort.length ? { sort } : {}),
          ...(groupBy ? { groupBy } : {}),
          ...(limit !== undefined ? { limit } : {}),
          ...(runs ? { runs } : {}),
          ...(since ? { since } : {}),
          ...(until ? { until } : {}),
        });
        // The rows come from the listing: each shown run is read whole, and one found damaged since is left out.
        // A row stands only while its run, read whole now, is the record the listing holds.
        const listed = new Map(records.map((r) => [r.runId, r]));
        const shown: typeof rows = [];
        for (const row of rows) {
          const changed = await reader.changedSince(listed.get(row.runId)!);
          if (changed) out.warn(`${changed}; left out (run the query again)`);
          else shown.push(row);
        }
        out.result({ rows: shown }, () =>
          q.queryText(shown, [...new Set([...columns, ...sort.map((s) => s.key)])]),
        );
        return 0;
      }),
    );
}
