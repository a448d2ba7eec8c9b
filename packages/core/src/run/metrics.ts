// Metrics a training run reports, in every form track-run reads, turned into typed values
// (name, value, step, stage):
//  - `::track-run metric name=loss value=0.31 step=3 stage=train` lines on stdout;
//  - a final metrics JSON at $TRACK_RUN_METRICS, flat ({"accuracy": 0.9}) or nested by stage
//    ({"test": {"accuracy": 0.9}}) or by group ({"eval": {"f1": 0.8}} -> "eval/f1");
//  - per-step curves as JSON lines at $TRACK_RUN_CURVES: {"step": 3, "stage": "train", "loss": 0.31}
//    or {"name": "loss", "value": 0.31, "step": 3};
//  - dvclive's files under $TRACK_RUN_OUTPUTS/dvclive: metrics.json and plots/metrics/**/*.tsv.
import * as fs from "node:fs";
import { join, relative, sep } from "node:path";
import type { MetricValue } from "../__generated__/index.js";

export type Stage = NonNullable<MetricValue["stage"]>;
const STAGES: Record<string, Stage> = {
  train: "train",
  training: "train",
  val: "validation",
  valid: "validation",
  validation: "validation",
  eval: "validation",
  test: "test",
};

function stageOf(s: string | undefined): Stage | undefined {
  return s === undefined ? undefined : STAGES[s.toLowerCase()];
}

function metric(name: string, value: number, step?: number, stage?: Stage): MetricValue {
  const m: MetricValue = { name, value };
  if (step !== undefined && Number.isInteger(step) && step >= 0) m.step = step;
  if (stage) m.stage = stage;
  return m;
}

/** One `::track-run metric …` line, or undefined when the line is something else (or malformed). */
export function parseMetricLine(line: string): MetricValue | undefined {
  const m = /^::track-run metric (.+)$/.exec(line.trim());
  if (!m) return undefined;
  const fields: Record<string, string> = {};
  for (const part of m[1]!.trim().split(/\s+/)) {
    const eq = part.indexOf("=");
    if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const value = Number(fields.value);
  if (!fields.name || fields.value === undefined || !Number.isFinite(value)) return undefined;
  return metric(
    fields.name,
    value,
    fields.step === undefined ? undefined : Number(fields.step),
    stageOf(fields.stage),
  );
}

/** Flattens a final-metrics JSON: numbers anywhere in it, named by their path, stage from a stage key. */
export function flattenMetrics(doc: unknown): MetricValue[] {
  const out: MetricValue[] = [];
  const visit = (v: unknown, path: string[], stage: Stage | undefined) => {
    if (typeof v === "number" && Number.isFinite(v)) out.push(metric(path.join("/"), v, undefined, stage));
    else if (typeof v === "boolean") return;
    else if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, child] of Object.entries(v)) {
        if (k === "step" && typeof child === "number") continue;
        const st = path.length === 0 ? stageOf(k) : undefined;
        if (st) visit(child, path, st);
        else visit(child, [...path, k], stage);
      }
    }
  };
  visit(doc, [], undefined);
  return out;
}

/** Curves from JSON lines; lines that are not JSON objects are skipped and counted. */
export function parseCurves(text: string): { curves: MetricValue[]; skipped: number } {
  const curves: MetricValue[] = [];
  let skipped = 0;
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      skipped++;
      continue;
    }
    if (!row || typeof row !== "object") {
      skipped++;
      continue;
    }
    const step = typeof row.step === "number" ? row.step : undefined;
    const stage = stageOf(typeof row.stage === "string" ? row.stage : undefined);
    if (typeof row.name === "string" && typeof row.value === "number") {
      curves.push(metric(row.name, row.value, step, stage));
      continue;
    }
    for (const [k, v] of Object.entries(row)) {
      if (k === "step" || k === "stage" || k === "timestamp" || typeof v !== "number" || !Number.isFinite(v))
        continue;
      curves.push(metric(k, v, step, stage));
    }
  }
  return { curves, skipped };
}

/** dvclive's output folder: final metrics from metrics.json, curves from plots/metrics/**\/*.tsv. */
export function readDvclive(dir: string): { final: MetricValue[]; curves: MetricValue[] } {
  const final: MetricValue[] = [];
  const curves: MetricValue[] = [];
  try {
    final.push(...flattenMetrics(JSON.parse(fs.readFileSync(join(dir, "metrics.json"), "utf8"))));
  } catch {
    // no dvclive metrics.json
  }
  const plots = join(dir, "plots", "metrics");
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".tsv")) {
        const name = relative(plots, p)
          .split(sep)
          .join("/")
          .replace(/\.tsv$/, "");
        const [header, ...rows] = fs.readFileSync(p, "utf8").split(/\r?\n/).filter(Boolean);
        const cols = (header ?? "").split("\t");
        const stepCol = cols.indexOf("step");
        const valueCol = cols.findIndex((c) => c !== "step" && c !== "timestamp");
        for (const r of rows) {
          const cells = r.split("\t");
          const value = Number(cells[valueCol]);
          if (Number.isFinite(value))
            curves.push(metric(name, value, stepCol >= 0 ? Number(cells[stepCol]) : undefined));
        }
      }
    }
  };
  walk(plots);
  return { final, curves };
}

/**
 * Everything a run reported, merged: final values from the metrics file and dvclive, then the last
 * stdout value of any name not given there (stdout lines without a step count as final); curves
 * from the curves file, dvclive and stepped stdout lines.
 */
export function collectMetrics(sources: {
  lines: readonly MetricValue[];
  metricsFile?: string;
  curvesFile?: string;
  dvcliveDir?: string;
}): { final: MetricValue[]; curves: MetricValue[]; problems: string[] } {
  const problems: string[] = [];
  const final: MetricValue[] = [];
  const curves: MetricValue[] = [];
  if (sources.metricsFile && fs.existsSync(sources.metricsFile)) {
    try {
      final.push(...flattenMetrics(JSON.parse(fs.readFileSync(sources.metricsFile, "utf8"))));
    } catch (e) {
      problems.push(`the metrics file is not JSON: ${(e as Error).message}`);
    }
  }
  if (sources.curvesFile && fs.existsSync(sources.curvesFile)) {
    const c = parseCurves(fs.readFileSync(sources.curvesFile, "utf8"));
    curves.push(...c.curves);
    if (c.skipped) problems.push(`${c.skipped} line(s) of the curves file are not JSON objects`);
  }
  if (sources.dvcliveDir && fs.existsSync(sources.dvcliveDir)) {
    const d = readDvclive(sources.dvcliveDir);
    const known = new Set(final.map((m) => `${m.stage ?? ""}/${m.name}`));
    final.push(...d.final.filter((m) => !known.has(`${m.stage ?? ""}/${m.name}`)));
    curves.push(...d.curves);
  }
  const lastByName = new Map<string, MetricValue>();
  for (const m of sources.lines) {
    if (m.step !== undefined) curves.push(m);
    lastByName.set(`${m.stage ?? ""}/${m.name}`, m);
  }
  const known = new Set(final.map((m) => `${m.stage ?? ""}/${m.name}`));
  for (const [key, m] of lastByName) {
    if (known.has(key)) continue;
    const { step: _step, ...rest } = m;
    final.push(rest);
  }
  return { final, curves, problems };
}
