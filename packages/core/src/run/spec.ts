// A run's specification from track-run.yml and the options given on the command line or as action
// inputs (options win). Pure: the file is read by readRunConfig, signing is decided at the edge.
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { Config } from "../__generated__/index.js";
import { safePath } from "../bag/paths.js";
import { fsInputError, UsageError } from "../errors.js";
import { validateDocument } from "../schema/validate.js";
import { readInputText } from "../util/files.js";
import { assertName, isName, NAME_RULE, quoteInput } from "../util/names.js";
import { parseLabel } from "./labels.js";
import type { TrackSpec } from "./track.js";

export interface RunOptions {
  model?: string;
  image?: string;
  dockerfile?: string;
  context?: string;
  /** NAME=PATH or NAME=run:RUN[/PATH] each. */
  data?: string[];
  /** key=value each. */
  label?: string[];
  outputs?: string;
  params?: string;
  metrics?: string;
  gpus?: string;
  runtime?: string;
  network?: string;
  env?: string[];
  seed?: string | number;
  timeout?: string | number;
  memory?: string;
  ledger?: string;
  /** oci://REGISTRY/REPO: push the run's signed outputs there. */
  artifacts?: string;
  strict?: boolean;
  allowNoGit?: boolean;
}

/** track-run.yml, validated; a missing default file is an empty config, a missing named one an error. */
export function readRunConfig(path: string, explicit: boolean): { config: Config; baseDir: string } {
  if (!fs.existsSync(path)) {
    if (explicit) throw new UsageError("input-missing", `--config "${path}" does not exist`);
    return { config: {}, baseDir: "." };
  }
  const text = readInputText(path, `--config "${path}"`);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new UsageError("bad-config", `${path} is not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  return { config: validateDocument("config", doc ?? {}, path), baseDir: dirname(path) };
}

export function parseSize(s: string, what: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([kKmMgG]?)$/.exec(s.trim());
  if (!m) throw new UsageError("usage", `${what} "${s}" must be a size like 512m or 8g`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Math.round(Number(m[1]) * mult);
}

function number(v: string | number | undefined, what: string): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError("usage", `${what} "${v}" must be a number`);
  return n;
}

/** `run:RUN[/PATH]`: the outputs of a recorded run (a sub-folder with /PATH), or undefined for a path. */
export function parseRunData(value: string, where: string): { runId: string; path?: string } | undefined {
  if (!value.startsWith("run:")) return undefined;
  const rest = value.slice("run:".length);
  const slash = rest.indexOf("/");
  const runId = slash < 0 ? rest : rest.slice(0, slash);
  const sub = slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
  if (!isName(runId))
    throw new UsageError(
      "usage",
      `${where}: ${quoteInput(runId)} is not a run id; the form is run:RUN or run:RUN/PATH (${NAME_RULE})`,
    );
  if (sub) {
    const p = safePath(sub);
    if (!p.ok)
      throw new UsageError(
        "usage",
        `${where}: the path after run:${runId}/ must be a folder inside its outputs (${p.reason})`,
      );
    return { runId, path: p.path };
  }
  return { runId };
}

/** The run's specification, but for signing. Paths in the config are relative to its folder. */
export function resolveRunSpec(
  o: RunOptions,
  command: readonly string[],
  cfg: Config,
  baseDir: string,
  defaults: { ledger: string },
): Omit<TrackSpec, "signing"> {
  const rel = (p: string | undefined) => (p === undefined ? undefined : join(baseDir, p));
  const data = o.data?.length
    ? o.data.map((d) => {
        const i = d.indexOf("=");
        if (i <= 0) throw new UsageError("usage", `--data "${d}" must be NAME=PATH or NAME=run:RUN[/PATH]`);
        const path = d.slice(i + 1);
        const fromRun = parseRunData(path, `--data "${d}"`);
        return {
          name: assertName("data", d.slice(0, i), "--data"),
          path,
          ...(fromRun ? { fromRun } : {}),
        };
      })
    : Object.entries(cfg.data ?? {}).map(([name, path]) => {
        const fromRun = parseRunData(path, `track-run.yml data ${name}: "${path}"`);
        return {
          name: assertName("data", name, "track-run.yml data"),
          path: fromRun ? path : rel(path)!,
          ...(fromRun ? { fromRun } : {}),
        };
      });
  const runtime = o.runtime || cfg.runtime || "docker";
  if (runtime !== "docker" && runtime !== "host")
    throw new UsageError("usage", `--runtime "${runtime}" must be docker or host`);
  const network = o.network || cfg.network || "bridge";
  if (network !== "bridge" && network !== "none")
    throw new UsageError("usage", `--network "${network}" must be bridge or none`);
  const seed = number(o.seed, "--seed") ?? cfg.seed;
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 4294967295))
    throw new UsageError("usage", `--seed "${o.seed ?? seed}" must be a whole number from 0 to 4294967295`);
  const model = o.model || cfg.model;
  if (!model)
    throw new UsageError("usage", "no model name: pass --model NAME or set `model:` in track-run.yml");
  assertName("model", model, o.model ? "--model" : "track-run.yml model");
  // --runtime host given as a flag overrides the file's image or Dockerfile (run it here instead).
  const fileEnv = !(o.runtime === "host");
  const dockerfile = o.dockerfile || (fileEnv ? rel(cfg.dockerfile) : undefined);
  const image = o.image || (o.dockerfile || !fileEnv ? undefined : cfg.image);
  const context = o.context || (fileEnv ? rel(cfg.context) : undefined);
  const timeout = number(o.timeout, "--timeout") ?? cfg.timeout;
  const memory = o.memory || cfg.memory;
  const spec: Omit<TrackSpec, "signing"> = {
    model,
    command: command.length ? [...command] : (cfg.command ?? []),
    repo: ".",
    runtime,
    data,
    gpus: o.gpus || cfg.gpus || "none",
    network,
    env: o.env?.length ? o.env : (cfg.env ?? []),
    ledger: o.ledger || cfg.ledger || defaults.ledger,
    strictCode: Boolean(o.strict),
    strictImage: Boolean(o.strict),
    allowNoGit: Boolean(o.allowNoGit),
  };
  if (dockerfile) spec.build = { dockerfile, ...(context ? { context } : {}) };
  else if (image) spec.image = image;
  const outputs = o.outputs || (typeof cfg.outputs === "string" ? rel(cfg.outputs) : undefined);
  if (outputs) spec.outputs = outputs;
  if (Array.isArray(cfg.outputs) && cfg.outputs.length) spec.outputRoles = cfg.outputs.map((d) => ({ ...d }));
  if (cfg.track) {
    if (cfg.track === "declared" && !spec.outputRoles)
      throw new UsageError(
        "bad-config",
        'track-run.yml `track: declared` needs `outputs:` globs to declare what is tracked, e.g. outputs: [{ path: "model/*.bin", role: model }]',
      );
    spec.track = cfg.track;
  }
  if (cfg.labels && Object.keys(cfg.labels).length) spec.labels = { ...cfg.labels };
  if (o.label?.length) {
    const flags: Record<string, string> = {};
    for (const l of o.label) {
      const parsed = parseLabel(l);
      if (typeof parsed === "string") throw new UsageError("usage", `--label "${l}" ${parsed}`);
      flags[parsed.key] = parsed.value;
    }
    spec.labelOverrides = flags;
  }
  const metrics = o.metrics || cfg.metrics;
  if (metrics) spec.metricsFile = metrics;
  const params = o.params || rel(cfg.params);
  if (params) {
    if (!fs.existsSync(params))
      throw fsInputError(`--params "${params}"`, Object.assign(new Error("missing"), { code: "ENOENT" }));
    spec.params = params;
  }
  const artifacts = o.artifacts || cfg.artifacts;
  if (artifacts) spec.artifacts = artifacts;
  if (seed !== undefined) spec.seed = seed;
  if (timeout !== undefined) spec.timeoutSeconds = timeout;
  if (memory) spec.memoryBytes = parseSize(memory, "--memory");
  return spec;
}
