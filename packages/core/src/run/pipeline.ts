// Pipelines of runs: a run reads the outputs of a recorded run as data, named (`--data
// NAME=run:RUN[/PATH]`) or found by payload identity (a plain --data folder whose files are exactly
// a recorded run's outputs, or a sub-folder of them). The recorded run is read through the verified
// reader; only a verified record counts. Its outputs are found on this machine in the work folder it
// ran in (or, when not there, pulled from the OCI artifact its record names), and every file is
// checked against its signed sha256 before the run starts.
import * as fs from "node:fs";
import { join, resolve } from "node:path";
import type { DataPin, RunManifest } from "../__generated__/index.js";
import { hashFiles } from "../bag/hash.js";
import { outputFolderIdentities } from "../bag/identity.js";
import { CheckFailedError, UsageError } from "../errors.js";
import type { LedgerReader } from "../ledger/reader.js";
import { type RegistryAccess, registryClient } from "../oci/publish.js";
import { artifactHint, pullRun } from "../oci/pull.js";
import { quoteInput } from "../util/names.js";
import type { TrackSpec } from "./track.js";

/** Beside a run's work folder, where its outputs were written when --outputs named another folder. */
export const OUTPUTS_POINTER = "outputs-folder.txt";

/** Where a run's outputs are on this machine: <work>/<run>/outputs, or the folder its pointer names. */
export function outputsFolderOf(workRoot: string, runId: string): string | undefined {
  const work = join(workRoot, runId);
  const pointer = join(work, OUTPUTS_POINTER);
  if (fs.existsSync(pointer)) {
    const named = fs.readFileSync(pointer, "utf8").trim();
    if (named && fs.existsSync(named)) return named;
  }
  const outputs = join(work, "outputs");
  return fs.existsSync(outputs) ? outputs : undefined;
}

/** Remembers where a run's outputs are when they are not in its work folder (see outputsFolderOf). */
export function rememberOutputsFolder(work: string, outputs: string): void {
  if (resolve(outputs) !== resolve(join(work, "outputs")))
    fs.writeFileSync(join(work, OUTPUTS_POINTER), `${resolve(outputs)}\n`);
}

/**
 * Where a run's outputs are on this machine; when they are not here but its record names an OCI
 * artifact, they are pulled into <work>/<run>/outputs, every file checked against the run's signed
 * record (the record must be verified). Undefined when neither.
 */
export async function findOrPullRunOutputs(
  reader: LedgerReader,
  runId: string,
  workRoot: string,
  step: (m: string) => void,
  registry?: RegistryAccess,
  given = `run:${runId}`,
): Promise<string | undefined> {
  const folder = outputsFolderOf(workRoot, runId);
  if (folder || !(await artifactHint(reader, runId))) return folder;
  const dest = join(workRoot, runId, "outputs");
  step(`pulling run ${runId}'s outputs from its OCI artifact`);
  await pullRun(reader, runId, {
    outDir: dest,
    client: (ref) => registryClient(ref, registry),
    flag: given,
    onStep: step,
  });
  return dest;
}

/**
 * The data of the spec with each run: input replaced by the folder of that run's outputs (or the
 * sub-folder named), after checking every signed output file there. Exit 1 when the run's record
 * is not verified, or a file is changed or missing; exit 2 when the run or the sub-folder does not exist.
 */
export async function resolveRunInputs(
  data: TrackSpec["data"],
  reader: LedgerReader,
  workRoot: string,
  step: (m: string) => void,
  registry?: RegistryAccess,
): Promise<{ data: TrackSpec["data"]; warnings: string[] }> {
  const warnings: string[] = [];
  const out: TrackSpec["data"] = [];
  for (const d of data) {
    if (!d.fromRun) {
      out.push(d);
      continue;
    }
    const { runId, path: sub } = d.fromRun;
    const given = `--data ${d.name}=${d.path}`;
    step(`reading run ${runId}'s record for ${d.name}`);
    const record = await reader.require(runId);
    if (record.trust !== "verified")
      throw new CheckFailedError(
        "run-not-verified",
        `${given}: the record of run ${runId} is ${record.trust}, not verified, so its outputs are not used as data; trust its signer (--trusted-key, or .track-run/trust.json)`,
        { details: record.problems },
      );
    const folder = await findOrPullRunOutputs(reader, runId, workRoot, step, registry, given);
    if (!folder)
      throw new UsageError(
        "run-outputs-missing",
        `${given}: the outputs of run ${runId} are not on this machine (looked in ${join(workRoot, runId, "outputs")}) and its record names no OCI artifact; run it here first, pull them (track-run pull ${runId} --from oci://REGISTRY/REPO --out DIR), or give its outputs as a folder or bag`,
      );
    const prefix = sub ? `${sub}/` : "";
    const wanted = record.manifest.outputs.filter((o) => o.path.startsWith(prefix));
    if (!wanted.length)
      throw new UsageError(
        "run-outputs-missing",
        sub
          ? `${given}: run ${runId} has no outputs under ${quoteInput(sub)}`
          : `${given}: run ${runId} recorded no outputs`,
      );
    step(`checking ${wanted.length} output(s) of run ${runId} against their signed digests`);
    await checkOutputs(folder, wanted, `${given}: run ${runId}'s output`);
    const path = sub ? join(folder, sub) : folder;
    const extra = countExtra(path, new Set(wanted.map((o) => o.path.slice(prefix.length))));
    if (extra)
      warnings.push(
        `${given}: ${extra} file(s) in ${path} are not among run ${runId}'s signed outputs; they are pinned with the data`,
      );
    out.push({ ...d, path });
  }
  return { data: out, warnings };
}

async function checkOutputs(folder: string, outputs: RunManifest["outputs"], what: string): Promise<void> {
  const problems: string[] = [];
  const present = outputs.filter((o) => {
    const ok = fs.existsSync(join(folder, o.path));
    if (!ok) problems.push(`${o.path}: missing`);
    return ok;
  });
  const results = await hashFiles(
    present.map((o) => ({ path: join(folder, o.path), size: fs.statSync(join(folder, o.path)).size })),
    ["sha256"],
  );
  present.forEach((o, i) => {
    const r = results[i]!;
    if (!r.ok) problems.push(`${o.path}: cannot be read (${r.message})`);
    else if (r.digests.sha256 !== o.sha256)
      problems.push(`${o.path}: changed (sha256 ${r.digests.sha256}, signed ${o.sha256})`);
  });
  if (problems.length)
    throw new CheckFailedError(
      "run-output-changed",
      problems.length === 1
        ? `${what} ${problems[0]}`
        : `${what}s differ from the signed record (${problems.length} files)`,
      { details: problems.length > 1 ? problems : [] },
    );
}

function countExtra(root: string, known: Set<string>): number {
  let extra = 0;
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(dir, e.name), r);
      else if (!known.has(r)) extra++;
    }
  };
  walk(root, "");
  return extra;
}

/**
 * Data entries whose payload identity is that of a verified recorded run's outputs (or of a folder
 * of them) and that name no run yet: the run each comes from (the earliest, by run id, when several
 * match; whole outputs before a sub-folder). A run that read the same files as data is not their origin.
 */
export async function findParentRuns(
  data: readonly DataPin[],
  reader: LedgerReader,
): Promise<Map<string, { runId: string; path?: string }>> {
  const found = new Map<string, { runId: string; path?: string }>();
  const wanted = new Set(data.filter((d) => !d.fromRun && d.payloadIdentity).map((d) => d.payloadIdentity!));
  if (!wanted.size) return found;
  const byIdentity = new Map<string, { runId: string; path?: string }>();
  const runs = (await reader.producersOf([...wanted]))
    .filter((r) => r.trust === "verified" && r.manifest)
    .sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  for (const r of runs) {
    const folders = outputFolderIdentities(r.manifest!.outputs);
    // Files a run read as data as well as wrote (a copy passed through) were there before it: it is not where they come from.
    const read = new Set(r.manifest!.data.map((d) => d.payloadIdentity));
    for (const [folder, identity] of folders) {
      if (!wanted.has(identity) || read.has(identity)) continue;
      const prev = byIdentity.get(identity);
      if (!prev || (prev.path !== undefined && !folder))
        byIdentity.set(identity, { runId: r.runId, ...(folder ? { path: folder } : {}) });
    }
  }
  for (const d of data) {
    const hit = !d.fromRun && d.payloadIdentity ? byIdentity.get(d.payloadIdentity) : undefined;
    if (hit) found.set(d.name, hit);
  }
  return found;
}
