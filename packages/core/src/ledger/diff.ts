// What differs between two runs: code, data (file by file, from the bags' manifests kept with each
// run), image, parameters, host and GPU facts, metrics. The answer to "why did this metric change?".
import type { RunManifest } from "../__generated__/index.js";
import { parseManifest } from "../bag/tagfiles.js";

export interface RunDiff {
  from: string;
  to: string;
  code: { from?: string; to?: string; changed: boolean; files?: string[] };
  data: Array<{
    name: string;
    change: "added" | "removed" | "changed" | "same";
    from?: string;
    to?: string;
    files?: { added: string[]; removed: string[]; changed: string[] };
  }>;
  image: { from?: string; to?: string; changed: boolean };
  params: Array<{ key: string; from?: unknown; to?: unknown }>;
  environment: Array<{ fact: string; from: string; to: string }>;
  metrics: Array<{ name: string; from?: number; to?: number; delta?: number }>;
}

function manifestFiles(text: string | undefined): Map<string, string> | undefined {
  if (text === undefined) return undefined;
  const p = parseManifest(text, "manifest-sha256.txt");
  return p.ok ? new Map(p.value.map((e) => [e.path, e.digest])) : undefined;
}

function flat(o: unknown, prefix = ""): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (o && typeof o === "object" && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o))
      for (const [kk, vv] of flat(v, prefix ? `${prefix}.${k}` : k)) out.set(kk, vv);
  } else out.set(prefix, o);
  return out;
}

/**
 * `dataManifests(runId, name)` gives a bag's stored payload manifest; `changedFiles(from, to)` the
 * files changed between two commits (from git), when the caller can tell.
 */
export function diffRuns(
  a: RunManifest,
  b: RunManifest,
  lookups: {
    dataManifest?: (runId: string, name: string) => string | undefined;
    changedFiles?: (from: string, to: string) => string[] | undefined;
  } = {},
): RunDiff {
  const codeA = a.code.commit ?? a.code.contentDigest;
  const codeB = b.code.commit ?? b.code.contentDigest;
  const code: RunDiff["code"] = { changed: codeA !== codeB };
  if (codeA) code.from = codeA;
  if (codeB) code.to = codeB;
  if (code.changed && a.code.commit && b.code.commit) {
    const files = lookups.changedFiles?.(a.code.commit, b.code.commit);
    if (files) code.files = files;
  }
  const names = [...new Set([...a.data.map((d) => d.name), ...b.data.map((d) => d.name)])].sort();
  const data = names.map((name) => {
    const x = a.data.find((d) => d.name === name);
    const y = b.data.find((d) => d.name === name);
    if (!x) return { name, change: "added" as const, to: y!.digest };
    if (!y) return { name, change: "removed" as const, from: x.digest };
    if (x.digest === y.digest) return { name, change: "same" as const, from: x.digest, to: y.digest };
    const fa = manifestFiles(lookups.dataManifest?.(a.runId, name));
    const fb = manifestFiles(lookups.dataManifest?.(b.runId, name));
    const entry: RunDiff["data"][number] = { name, change: "changed", from: x.digest, to: y.digest };
    if (fa && fb) {
      entry.files = {
        added: [...fb.keys()].filter((p) => !fa.has(p)).sort(),
        removed: [...fa.keys()].filter((p) => !fb.has(p)).sort(),
        changed: [...fa.keys()].filter((p) => fb.has(p) && fb.get(p) !== fa.get(p)).sort(),
      };
    }
    return entry;
  });
  const imgA = a.environment.image?.repoDigest ?? a.environment.image?.id;
  const imgB = b.environment.image?.repoDigest ?? b.environment.image?.id;
  const image: RunDiff["image"] = { changed: imgA !== imgB };
  if (imgA) image.from = imgA;
  if (imgB) image.to = imgB;
  const pa = flat(a.invocation.params ?? {});
  const pb = flat(b.invocation.params ?? {});
  const params: RunDiff["params"] = [];
  for (const k of [...new Set([...pa.keys(), ...pb.keys()])].sort()) {
    if (JSON.stringify(pa.get(k)) !== JSON.stringify(pb.get(k)))
      params.push({
        key: k,
        ...(pa.has(k) ? { from: pa.get(k) } : {}),
        ...(pb.has(k) ? { to: pb.get(k) } : {}),
      });
  }
  if (a.invocation.seed !== b.invocation.seed)
    params.push({ key: "(seed)", from: a.invocation.seed, to: b.invocation.seed });
  if (JSON.stringify(a.invocation.command) !== JSON.stringify(b.invocation.command)) {
    params.push({
      key: "(command)",
      from: a.invocation.command.join(" "),
      to: b.invocation.command.join(" "),
    });
  }
  const gpu = (m: RunManifest) =>
    (m.environment.gpus ?? [])
      .map((g) => `${g.name} (driver ${g.driverVersion ?? "?"}, CUDA ${g.cudaVersion ?? "?"})`)
      .join(", ") || "none";
  const facts: Array<[string, string, string]> = [
    ["GPUs", gpu(a), gpu(b)],
    [
      "CPU",
      `${a.environment.host?.cpuCount ?? "?"} x ${a.environment.host?.cpuModel ?? "?"}`,
      `${b.environment.host?.cpuCount ?? "?"} x ${b.environment.host?.cpuModel ?? "?"}`,
    ],
    ["engine", a.environment.host?.dockerVersion ?? "none", b.environment.host?.dockerVersion ?? "none"],
    ["OS", a.environment.host?.os ?? "?", b.environment.host?.os ?? "?"],
    ["runner", a.environment.runner?.name ?? "local", b.environment.runner?.name ?? "local"],
  ];
  const key = (m: { name: string; stage?: string }) => `${m.stage ? `${m.stage}/` : ""}${m.name}`;
  const ma = new Map(a.metrics.final.map((m) => [key(m), m.value]));
  const mb = new Map(b.metrics.final.map((m) => [key(m), m.value]));
  const metrics = [...new Set([...ma.keys(), ...mb.keys()])].sort().map((name) => {
    const from = ma.get(name);
    const to = mb.get(name);
    return {
      name,
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(from !== undefined && to !== undefined ? { delta: to - from } : {}),
    };
  });
  return {
    from: a.runId,
    to: b.runId,
    code,
    data,
    image,
    params,
    environment: facts.filter(([, x, y]) => x !== y).map(([fact, from, to]) => ({ fact, from, to })),
    metrics,
  };
}
