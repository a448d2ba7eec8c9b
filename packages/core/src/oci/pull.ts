// Getting a run's outputs back from a registry. What is believed comes from a signed record: a run
// read through the verified ledger reader, or (by digest) the bundle attached to the artifact,
// verified against the trust policy. The artifact only carries bytes: each signed output is found
// among its layers by path and digest, downloaded into a folder beside the target, checked against
// the signed sha256, and only when every file passed is the folder renamed into place.
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import type { OutputFile, RunManifest } from "../__generated__/index.js";
import { CheckFailedError, TrackRunError, UsageError } from "../errors.js";
import type { LedgerReader } from "../ledger/reader.js";
import type { Trust } from "../ledger/records.js";
import { verifyBundle } from "../sign/verify.js";
import { newOrEmptyFolderProblem, partialSibling } from "../util/files.js";
import { isOutputPath } from "../util/names.js";
import {
  ARTIFACT_RECORD,
  type ArtifactRecord,
  BUNDLE_ARTIFACT_TYPE,
  OUTPUTS_ARTIFACT_TYPE,
  TITLE,
} from "./artifact.js";
import type { Descriptor, OciClient } from "./client.js";
import { DIGEST_PATTERN, formatOciReference, type OciReference, parseOciReference } from "./reference.js";

export interface PulledOutputs {
  runId: string;
  /** The artifact pulled from, oci://REGISTRY/REPO@sha256:… */
  reference: string;
  digest: string;
  outDir: string;
  files: Array<{ path: string; sha256: string; size: number }>;
  /** How the record was verified: the ledger's reader, or the bundle attached to the artifact. */
  verifiedBy: "ledger" | "referrer";
}

interface ArtifactManifest {
  artifactType?: string;
  layers?: Descriptor[];
  annotations?: Record<string, string>;
}

/** Which layer holds each signed output: exit 1 naming every output missing or with another digest. */
export function matchLayers(
  manifest: ArtifactManifest,
  outputs: readonly OutputFile[],
  where: string,
): Map<string, Descriptor> {
  const byTitle = new Map<string, Descriptor>();
  for (const l of Array.isArray(manifest.layers) ? manifest.layers : []) {
    const title = l?.annotations?.[TITLE];
    if (typeof title === "string" && !byTitle.has(title)) byTitle.set(title, l);
  }
  const problems: string[] = [];
  const found = new Map<string, Descriptor>();
  for (const o of outputs) {
    const l = byTitle.get(o.path);
    if (!l) problems.push(`${o.path}: missing from the artifact`);
    else if (l.digest !== `sha256:${o.sha256}`)
      problems.push(
        `${o.path}: changed (the artifact has ${l.digest}, the signed record sha256:${o.sha256})`,
      );
    else found.set(o.path, l);
  }
  if (problems.length)
    throw new CheckFailedError(
      "artifact-mismatch",
      problems.length === 1
        ? `${where}: ${problems[0]}`
        : `${where} differs from the signed record (${problems.length} files)`,
      { details: problems.length > 1 ? problems : [] },
    );
  return found;
}

/**
 * Downloads the signed outputs from the artifact into `outDir` (new or empty), each checked against
 * its signed sha256 before the folder is renamed into place: nothing half-written is left there.
 */
export async function pullOutputs(
  client: OciClient,
  o: {
    digest: string;
    outputs: readonly OutputFile[];
    outDir: string;
    flag?: string;
    onStep?: (m: string) => void;
  },
): Promise<Array<{ path: string; sha256: string; size: number }>> {
  const where = formatOciReference(client.ref, o.digest);
  const problem = newOrEmptyFolderProblem(o.outDir, o.flag ?? "--out");
  if (problem) throw new UsageError("bad-output", problem);
  const got = await client.getManifest(o.digest);
  if (!got) throw new UsageError("no-such-artifact", `${where} is not in the registry`);
  const manifest = JSON.parse(got.body.toString("utf8")) as ArtifactManifest;
  if (manifest.artifactType !== OUTPUTS_ARTIFACT_TYPE)
    throw new CheckFailedError(
      "not-an-outputs-artifact",
      `${where} is not a track-run outputs artifact (artifactType ${JSON.stringify(manifest.artifactType ?? null)})`,
    );
  // Paths come from the signed record, never from the artifact; still, none may leave the folder.
  const unsafe = o.outputs.find((x) => !isOutputPath(x.path));
  if (unsafe)
    throw new CheckFailedError(
      "bad-output-path",
      `the signed record names an output path ${JSON.stringify(unsafe.path)} outside the outputs folder`,
    );
  const layers = matchLayers(manifest, o.outputs, where);
  fs.mkdirSync(dirname(o.outDir), { recursive: true });
  const staging = partialSibling(o.outDir);
  fs.mkdirSync(staging);
  try {
    let n = 0;
    for (const out of o.outputs) {
      const layer = layers.get(out.path)!;
      o.onStep?.(`pulling output ${++n}/${o.outputs.length}: ${out.path} (${out.size} bytes)`);
      const dest = join(staging, out.path);
      fs.mkdirSync(dirname(dest), { recursive: true });
      try {
        await client.fetchBlob(layer.digest, dest, out.size);
      } catch (e) {
        if (e instanceof TrackRunError && e.code === "blob-mismatch")
          throw new CheckFailedError(
            "run-output-changed",
            `${out.path}: changed (${e.message}; signed sha256:${out.sha256}); nothing was written to ${o.outDir}`,
          );
        throw e;
      }
    }
    if (fs.existsSync(o.outDir)) {
      for (const e of fs.readdirSync(staging)) fs.renameSync(join(staging, e), join(o.outDir, e));
      fs.rmSync(staging, { recursive: true, force: true });
    } else fs.renameSync(staging, o.outDir);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  return o.outputs.map((x) => ({ path: x.path, sha256: x.sha256, size: x.size }));
}

/** The artifact.json hint of a run's record (not signed: used only to find the artifact). */
export async function artifactHint(reader: LedgerReader, runId: string): Promise<ArtifactRecord | undefined> {
  const body = await reader.snapshot.readRunFile(runId, ARTIFACT_RECORD).catch(() => undefined);
  if (!body || body.length > 64 * 1024) return undefined;
  try {
    const doc = JSON.parse(body.toString("utf8")) as ArtifactRecord;
    if (
      typeof doc.reference !== "string" ||
      typeof doc.digest !== "string" ||
      !DIGEST_PATTERN.test(doc.digest)
    )
      return undefined;
    parseOciReference(doc.reference, "artifact.json reference");
    return doc;
  } catch {
    return undefined;
  }
}

/**
 * A recorded run's outputs, pulled: the run's record read through the verified reader (it must be
 * verified), its artifact found by the record's artifact.json or, with `from`, by the run id's tag
 * in that repository.
 */
export async function pullRun(
  reader: LedgerReader,
  runId: string,
  o: {
    outDir: string;
    from?: OciReference;
    client: (ref: OciReference) => OciClient;
    flag?: string;
    onStep?: (m: string) => void;
  },
): Promise<PulledOutputs> {
  const record = await reader.require(runId);
  if (record.trust !== "verified")
    throw new CheckFailedError(
      "run-not-verified",
      `the record of run ${runId} is ${record.trust}, not verified, so its outputs are not pulled; trust its signer (--trusted-key, or .track-run/trust.json)`,
      { details: record.problems },
    );
  const hint = await artifactHint(reader, runId);
  let ref: OciReference;
  let digest: string;
  if (o.from) {
    ref = o.from;
    const client = o.client(ref);
    const found =
      hint && hint.registry === ref.registry && hint.repository === ref.repository
        ? hint.digest
        : (o.from.digest ?? (await client.getManifest(o.from.tag ?? runId))?.digest);
    if (!found)
      throw new UsageError(
        "no-such-artifact",
        `${formatOciReference(ref)} has no artifact tagged ${o.from.tag ?? runId}`,
      );
    digest = found;
  } else {
    if (!hint)
      throw new UsageError(
        "no-artifact",
        `run ${runId} names no artifact in ${reader.uri} (it was recorded without --artifacts); give the repository with --from oci://REGISTRY/REPO`,
      );
    ref = parseOciReference(hint.reference, `${ARTIFACT_RECORD} of run ${runId}`);
    digest = hint.digest;
  }
  const files = await pullOutputs(o.client(ref), {
    digest,
    outputs: record.manifest.outputs,
    outDir: o.outDir,
    ...(o.flag ? { flag: o.flag } : {}),
    ...(o.onStep ? { onStep: o.onStep } : {}),
  });
  return {
    runId,
    reference: formatOciReference(ref, digest),
    digest,
    outDir: o.outDir,
    files,
    verifiedBy: "ledger",
  };
}

/**
 * The outputs of the artifact `digest` in `from`, checked against the bundle attached to it: the
 * first referrer bundle that verifies against the trust policy (the one naming the artifact's run
 * id first) gives the signed outputs. Exit 1 when none verifies.
 */
export async function pullDigest(
  client: OciClient,
  digest: string,
  trust: Trust,
  o: { outDir: string; flag?: string; onStep?: (m: string) => void },
): Promise<PulledOutputs & { manifest: RunManifest }> {
  const where = formatOciReference(client.ref, digest);
  if (!DIGEST_PATTERN.test(digest))
    throw new UsageError("usage", `"${digest}" is not a digest; the form is sha256: and 64 hex digits`);
  const got = await client.getManifest(digest);
  if (!got) throw new UsageError("no-such-artifact", `${where} is not in the registry`);
  const artifact = JSON.parse(got.body.toString("utf8")) as ArtifactManifest;
  const runId = artifact.annotations?.["dev.track-run.run-id"];
  const { referrers } = await client.referrers(digest, BUNDLE_ARTIFACT_TYPE);
  referrers.sort(
    (a, b) =>
      Number(b.annotations?.["dev.track-run.run-id"] === runId) -
      Number(a.annotations?.["dev.track-run.run-id"] === runId),
  );
  const problems: string[] = [];
  for (const r of referrers.slice(0, 16)) {
    const m = await client.getManifest(r.digest);
    const layer = m ? (JSON.parse(m.body.toString("utf8")) as ArtifactManifest).layers?.[0] : undefined;
    if (!layer) {
      problems.push(`${r.digest}: no bundle in it`);
      continue;
    }
    let doc: unknown;
    try {
      doc = JSON.parse((await client.blobBytes(layer.digest)).toString("utf8"));
    } catch (e) {
      problems.push(`${r.digest}: ${(e as Error).message}`);
      continue;
    }
    const report = await verifyBundle(doc, {
      keys: trust.keys,
      ...(trust.identities ? { identities: trust.identities } : {}),
      ...(trust.trustedRoot ? { trustedRoot: trust.trustedRoot } : {}),
    });
    if (!report.ok || !report.signed || !report.manifest) {
      const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
      problems.push(`${r.digest}: ${failed.join("; ") || "not signed"}`);
      continue;
    }
    const files = await pullOutputs(client, {
      digest,
      outputs: report.manifest.outputs,
      outDir: o.outDir,
      ...(o.flag ? { flag: o.flag } : {}),
      ...(o.onStep ? { onStep: o.onStep } : {}),
    });
    return {
      runId: report.manifest.runId,
      reference: where,
      digest,
      outDir: o.outDir,
      files,
      verifiedBy: "referrer",
      manifest: report.manifest,
    };
  }
  throw new CheckFailedError(
    "no-verified-bundle",
    referrers.length
      ? `${where}: no attached bundle verifies against the trust policy`
      : `${where} has no signed bundle attached, so its files cannot be checked; pull it by run id from a ledger instead`,
    { details: problems },
  );
}
