// Reproduce a recorded run: verify its record, check out the recorded commit, materialise and
// validate every bag, get the image (present, pulled by digest, or rebuilt), run the recorded
// command with the recorded parameters, seed, environment and GPU request, and compare. A pin that
// cannot be satisfied makes the verdict not-reproducible, saying which and why.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { Policy, RunManifest } from "../__generated__/index.js";
import { diffPayloadManifests } from "../bag/diff.js";
import { cachedBagPath, materializeBag } from "../bag/materialize.js";
import { pinData } from "../bag/pin.js";
import type { ContainerRuntime } from "../docker/runtime.js";
import { isTrackRunError } from "../errors.js";
import type { GitLedgerOptions } from "../ledger/git.js";
import { openLedger } from "../ledger/open.js";
import { canonicalDigest } from "../manifest/canonical.js";
import { pinCode } from "../pin/code.js";
import { buildAndPin, type RunnerContext } from "../pin/env.js";
import { resolveDataLocation } from "../run/location.js";
import { trackRun } from "../run/track.js";
import type { IdentityRule } from "../sign/identity.js";
import type { PublicKeyInfo } from "../sign/keys.js";
import { type SigningPlan, signRecord } from "../sign/plan.js";
import { REPRODUCTION_PREDICATE_TYPE, STATEMENT_TYPE } from "../sign/statement.js";
import { verifyBundle } from "../sign/verify.js";
import {
  compareMetrics,
  compareOutputs,
  type EnvironmentDifference,
  environmentDifferences,
  type MetricComparison,
  type OutputComparison,
  type Verdict,
  verdictOf,
} from "./compare.js";

export interface ReproduceOptions {
  /** The original run's bundle (or unsigned envelope), parsed. */
  bundle: unknown;
  /** Its record folder, when it came from a dir: ledger: the bags' payload manifests are there. */
  recordDir?: string;
  /** The bags' payload manifests by data name, as the verified reader read them (any ledger). */
  payloadManifests?: Readonly<Record<string, string>>;
  trust: { keys: readonly PublicKeyInfo[]; identities?: readonly IdentityRule[]; trustedRoot?: unknown };
  allowUnsigned?: boolean;
  /** A local repository holding (or able to fetch) the recorded commit. */
  repo: string;
  /** For a run whose code was pinned by content: the source folder. */
  source?: string;
  policy?: Policy;
  signing: SigningPlan;
  ledger: string;
  containers?: ContainerRuntime;
  cacheDir?: string;
  env: Readonly<Record<string, string | undefined>>;
  runner?: RunnerContext;
  actor?: string;
  user?: string;
  onStep?: (m: string) => void;
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
  ledgerOptions?: GitLedgerOptions;
  /**
   * For data that was a recorded run's outputs (run:RUN) and is not where it was: the folder of
   * that run's outputs here, found or pulled from its OCI artifact and checked against its signed record.
   */
  runOutputs?: (runId: string) => Promise<string | undefined>;
}

export interface ReproduceReport {
  verdict: Verdict;
  original: { runId: string; model: string };
  reproduction?: { runId: string; recordDir: string; bundlePath: string; status: string };
  /** Why: the unsatisfied pin, or what diverged, or what differs within tolerance. */
  reasons: string[];
  /** What else differs and did not decide the verdict (metrics the policy does not gate, say). */
  differences: string[];
  metrics: MetricComparison[];
  outputs: OutputComparison[];
  environment: EnvironmentDifference[];
  warnings: string[];
}

class NotReproducible extends Error {}

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-C", cwd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** A clean checkout of the recorded commit (sharing the repository's objects), fetched from its remote when missing. */
function checkout(repo: string, m: RunManifest, step: (s: string) => void): string {
  const commit = m.code.commit!;
  const has = () => {
    try {
      git(repo, "cat-file", "-e", `${commit}^{commit}`);
      return true;
    } catch {
      return false;
    }
  };
  if (!has()) {
    const remote = m.code.remote ?? "origin";
    step(`fetching commit ${commit} from ${remote}`);
    try {
      git(repo, "fetch", "--quiet", remote, commit);
    } catch (e) {
      const why = String((e as { stderr?: string }).stderr ?? (e as Error).message)
        .trim()
        .split("\n")
        .pop();
      throw new NotReproducible(
        `code: commit ${commit} is not in the repository at ${repo} and cannot be fetched from ${remote}: ${why}`,
      );
    }
    if (!has()) throw new NotReproducible(`code: commit ${commit} cannot be fetched from ${remote}`);
  }
  const dir = fs.mkdtempSync(join(tmpdir(), "track-run-reproduce-"));
  execFileSync("git", ["clone", "--quiet", "--shared", "--no-checkout", resolve(repo), dir], {
    stdio: "ignore",
  });
  git(dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit);
  if (fs.existsSync(join(dir, ".gitmodules"))) {
    try {
      git(dir, "-c", "protocol.file.allow=always", "submodule", "update", "--init", "--recursive", "--quiet");
    } catch (e) {
      throw new NotReproducible(
        `code: the submodules of ${commit} cannot be checked out: ${(e as Error).message}`,
      );
    }
  }
  return dir;
}

/** Which files of a bag differ from the recorded payload manifest. */
function namedChanges(recorded: string, current: string | undefined): string[] {
  const d = diffPayloadManifests(recorded, current);
  return [
    ...d.removed.map((p) => `${p} is missing`),
    ...d.changed.map((c) => `${c.path} changed (sha256 ${c.to}, recorded ${c.from})`),
    ...d.added.map((p) => `${p} is new`),
  ];
}

export async function reproduceRun(o: ReproduceOptions): Promise<ReproduceReport> {
  const step = o.onStep ?? (() => undefined);
  const warnings: string[] = [];
  const empty = { metrics: [], outputs: [], environment: [], differences: [], warnings };

  // 1. The record, against the trust policy.
  step("verifying the original record");
  const verified = await verifyBundle(o.bundle, {
    keys: o.trust.keys,
    ...(o.trust.identities ? { identities: o.trust.identities } : {}),
    ...(o.trust.trustedRoot ? { trustedRoot: o.trust.trustedRoot } : {}),
  });
  const m = verified.manifest;
  if (!m) {
    return {
      verdict: "not-reproducible",
      original: { runId: "?", model: "?" },
      reasons: verified.checks.filter((c) => !c.ok).map((c) => `record: ${c.name}: ${c.detail}`),
      ...empty,
    };
  }
  const original = { runId: m.runId, model: m.model };
  const failed = verified.checks.filter(
    (c) => !c.ok && !(o.allowUnsigned && !verified.signed && c.name === "signature"),
  );
  if (failed.length) {
    return {
      verdict: "not-reproducible",
      original,
      reasons: failed.map((c) => `record: ${c.name}: ${c.detail}`),
      ...empty,
    };
  }
  if (!verified.signed) warnings.push("the original record is unsigned (accepted with --allow-unsigned)");

  let work: string | undefined;
  try {
    // 2. Code.
    let repo: string;
    if (m.code.kind === "git") {
      step(`checking out ${m.code.commit}`);
      work = checkout(o.repo, m, step);
      repo = work;
      if (m.code.dirty) {
        warnings.push(
          `the original ran on a dirty tree (${m.code.dirty.modified.length + m.code.dirty.added.length + m.code.dirty.deleted.length + m.code.dirty.untracked.length} files not committed); the reproduction runs the commit without those changes`,
        );
      }
    } else {
      if (!o.source)
        throw new NotReproducible(
          "code: the original was pinned by content, not by a commit; give its source folder (--source DIR)",
        );
      const pin = await pinCode(o.source, { allowNoGit: true });
      if (pin.contentDigest !== m.code.contentDigest) {
        throw new NotReproducible(
          `code: ${o.source} has content sha256:${pin.contentDigest}, the record says sha256:${m.code.contentDigest}`,
        );
      }
      repo = o.source;
    }

    // 3. Data: each bag materialised and fully validated.
    const data: Array<{ name: string; path: string }> = [];
    for (const d of m.data) {
      step(`validating data ${d.name}`);
      // A relative location is inside the recorded commit (or, for data git does not track, the
      // repository's working copy); an absolute one is where it was.
      let path = d.location ? locate(d.location, [repo, resolve(o.repo)]) : undefined;
      if (!path && o.cacheDir && fs.existsSync(cachedBagPath(o.cacheDir, d.digest)))
        path = cachedBagPath(o.cacheDir, d.digest);
      if (!path && d.fromRun?.runId && o.runOutputs) {
        const folder = await o.runOutputs(d.fromRun.runId);
        if (folder) path = d.fromRun.path ? join(folder, d.fromRun.path) : folder;
      }
      if (!path)
        throw new NotReproducible(
          `data ${d.name}: ${d.location === undefined ? "no location is recorded" : isAbsolute(d.location) ? `${d.location} does not exist` : `${d.location} is neither in the recorded code nor in ${o.repo}`}, and no cached copy of ${d.digest} is here`,
        );
      if (o.cacheDir) path = (await materializeBag(path, { cacheDir: o.cacheDir, onStep: step })).path;
      let pin: Awaited<ReturnType<typeof pinData>>;
      try {
        pin = await pinData(path);
      } catch (e) {
        if (isTrackRunError(e))
          throw new NotReproducible(
            `data ${d.name}: ${e.message}${e.details.length ? `: ${e.details.join("; ")}` : ""}`,
          );
        throw e;
      }
      if (pin.digest !== d.digest) {
        const recorded =
          o.payloadManifests?.[d.name] ??
          (o.recordDir ? readMaybe(join(o.recordDir, `data-${d.name}.manifest-sha256.txt`)) : undefined);
        const changes = recorded ? namedChanges(recorded, pin.manifest) : [];
        throw new NotReproducible(
          `data ${d.name}: ${path} has digest ${pin.digest}, the record says ${d.digest}${changes.length ? `: ${changes.join("; ")}` : ""}`,
        );
      }
      data.push({ name: d.name, path });
    }

    // 4. Environment: the image by digest, present, pulled, or rebuilt.
    let image: string | undefined;
    const img = m.environment.image;
    if (m.environment.runtime === "docker") {
      if (!o.containers)
        throw new NotReproducible("environment: the original ran in Docker and no engine is reachable here");
      const rt = o.containers;
      if (img?.repoDigest) {
        step(`getting image ${img.repoDigest}`);
        if (!(await rt.inspectImage(img.repoDigest))) {
          try {
            await rt.pullImage(img.repoDigest);
          } catch (e) {
            throw new NotReproducible(
              `environment: image ${img.repoDigest} is not here and cannot be pulled: ${(e as Error).message}`,
            );
          }
        }
        image = img.repoDigest;
      } else if (img?.id && (await rt.inspectImage(img.id))) {
        image = img.id;
      } else if (img?.dockerfile && img.dockerfileDigest) {
        const dockerfile = join(repo, img.dockerfile);
        const digest = fs.existsSync(dockerfile)
          ? createHash("sha256").update(fs.readFileSync(dockerfile)).digest("hex")
          : undefined;
        if (digest !== img.dockerfileDigest) {
          throw new NotReproducible(
            `environment: image ${img.reference} (${img.id}) is not here, was never pushed, and ${img.dockerfile} in the commit is not the recorded Dockerfile`,
          );
        }
        step(`rebuilding image ${img.reference} from ${img.dockerfile}`);
        const rebuilt = await buildAndPin(rt, {
          dockerfile,
          context: join(repo, img.context ?? "."),
          buildArgs: img.buildArgs ?? {},
        });
        if (rebuilt.id !== img.id)
          warnings.push(
            `image rebuilt from ${img.dockerfile}: its ID ${rebuilt.id} differs from the recorded ${img.id} (image builds are seldom bit-for-bit reproducible)`,
          );
        image = rebuilt.id;
      } else {
        throw new NotReproducible(
          `environment: image ${img?.reference ?? "?"} (${img?.id ?? "no ID"}) is not here, was never pushed to a registry, and no Dockerfile was recorded to rebuild it`,
        );
      }
    }

    // 5. Run, as recorded.
    const inv = m.invocation;
    const own = new Set([
      "PYTHONHASHSEED",
      "CUBLAS_WORKSPACE_CONFIG",
      "PYTHONUNBUFFERED",
      "PYTHONDONTWRITEBYTECODE",
    ]);
    const envNames = Object.keys(inv.env ?? {}).filter((k) => !own.has(k));
    const env: Record<string, string | undefined> = { ...o.env };
    for (const k of envNames) if (!inv.env![k]!.includes("***")) env[k] = inv.env![k];
    let params: string | undefined;
    if (inv.params) {
      params = join(fs.mkdtempSync(join(tmpdir(), "track-run-params-")), "params.json");
      fs.writeFileSync(params, JSON.stringify(inv.params));
    }
    step(`running ${inv.command.join(" ")} as recorded`);
    const r = await trackRun(
      {
        model: m.model,
        command: [...inv.command],
        repo,
        runtime: m.environment.runtime,
        ...(image ? { image } : {}),
        data,
        ...(params ? { params } : {}),
        ...(inv.metricsFile ? { metricsFile: inv.metricsFile } : {}),
        gpus: inv.gpus ?? "none",
        ...(inv.network === "bridge" || inv.network === "none" ? { network: inv.network } : {}),
        env: envNames,
        ...(inv.seed !== undefined ? { seed: inv.seed } : {}),
        ...(inv.timeoutSeconds ? { timeoutSeconds: inv.timeoutSeconds } : {}),
        ...(inv.memoryBytes ? { memoryBytes: inv.memoryBytes } : {}),
        ledger: o.ledger,
        signing: o.signing,
        allowNoGit: m.code.kind === "content",
        links: { reproductionOf: m.runId },
      },
      {
        env,
        ...(o.runner ? { runner: o.runner } : {}),
        ...(o.actor ? { actor: o.actor } : {}),
        ...(o.containers ? { containers: o.containers } : {}),
        ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
        ...(o.user ? { user: o.user } : {}),
        ...(work ? { workRoot: join(resolve(o.repo), ".track-run", "work") } : {}),
        ...(o.onStep ? { onStep: o.onStep } : {}),
        ...(o.onLine ? { onLine: o.onLine } : {}),
        ...(o.ledgerOptions ? { ledgerOptions: o.ledgerOptions } : {}),
      },
    );
    warnings.push(...r.warnings);

    // 6. The verdict, and what of the environment differs.
    const metrics = compareMetrics(m, r.manifest, o.policy);
    const outputs = compareOutputs(m, r.manifest);
    const { verdict, reasons, differences } = verdictOf(m, r.manifest, metrics, outputs);
    const report: ReproduceReport = {
      verdict,
      original,
      reproduction: {
        runId: r.runId,
        recordDir: r.recordDir,
        bundlePath: r.bundlePath,
        status: r.status.state,
      },
      reasons,
      differences,
      metrics,
      outputs,
      environment: environmentDifferences(m, r.manifest),
      warnings,
    };
    // The verdict is signed too: only a signed reproduction record counts for the gate's reproduced rule.
    const ledger = openLedger(o.ledger, o.ledgerOptions);
    await ledger.putRunFile(r.runId, "reproduction.json", `${JSON.stringify(report, null, 2)}\n`);
    const claim = await signReproduction(m, r.manifest, report, o.signing).catch((e: Error) => {
      warnings.push(`the reproduction's verdict is not signed: ${e.message}`);
      return undefined;
    });
    if (claim) await ledger.putRunFile(r.runId, "reproduction.sigstore.json", claim);
    return report;
  } catch (e) {
    if (e instanceof NotReproducible)
      return { verdict: "not-reproducible", original, reasons: [e.message], ...empty };
    throw e;
  } finally {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The first of the roots where a recorded data location exists. */
function locate(location: string, roots: readonly string[]): string | undefined {
  for (const root of roots) {
    const p = resolveDataLocation(location, root);
    if (p !== undefined && fs.existsSync(p)) return p;
  }
  return undefined;
}

function readMaybe(path: string): string | undefined {
  try {
    return fs.readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The signed reproduction record: the original and the reproduction by manifest digest, and the verdict. */
async function signReproduction(
  original: RunManifest,
  reproduction: RunManifest,
  report: ReproduceReport,
  signing: SigningPlan,
): Promise<string | undefined> {
  if (signing.unsigned) return undefined;
  const digest = canonicalDigest(reproduction);
  const statement = {
    _type: STATEMENT_TYPE,
    subject: [
      {
        name: `runs/${reproduction.runId}/manifest.json`,
        digest: { sha256: digest.replace(/^sha256:/, "") },
      },
    ],
    predicateType: REPRODUCTION_PREDICATE_TYPE,
    predicate: {
      original: { runId: original.runId, manifestDigest: canonicalDigest(original) },
      reproduction: { runId: reproduction.runId, manifestDigest: digest },
      verdict: report.verdict,
      reasons: report.reasons,
    },
  };
  const record = await signRecord(statement as never, signing);
  return `${JSON.stringify(record.document, null, 2)}\n`;
}
