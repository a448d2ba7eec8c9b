import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import type { RunManifest } from "@track-run/core";
import { UsageError } from "@track-run/core/errors";
import { checkOutputPath, readInputFile, readJsonFile, writeOutputFile } from "@track-run/core/files";
import { loadCommonJs } from "@track-run/core/interop";
import { isName } from "@track-run/core/names";
import type {
  KeylessOptions,
  SignedRecord,
  SigningPlan,
  TrustSettings,
  VerifyCheck,
  VerifyReport,
} from "@track-run/core/sign";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { readerFor, readTrust } from "../trust.js";

const sign = () => import("@track-run/core/sign");

/** Writes `text` at `path` (a temporary file beside it, then a rename); `flag` names it in errors. */
async function writeAtomic(path: string, text: string, flag = "--out"): Promise<void> {
  writeOutputFile(path, text, `${flag} "${path}"`);
}

/** The signing key: --key FILE, else TRACK_RUN_SIGNING_KEY (PEM text, e.g. an Actions secret), else TRACK_RUN_KEY (a path). */
async function signingKey(keyPath: string | undefined) {
  const { parsePrivateKey, readPrivateKey } = await sign();
  if (keyPath) return readPrivateKey(keyPath);
  const pem = process.env.TRACK_RUN_SIGNING_KEY;
  if (pem) return parsePrivateKey(pem, "TRACK_RUN_SIGNING_KEY");
  const env = readEnvironment();
  if (env.signingKey) return readPrivateKey(env.signingKey);
  throw new UsageError(
    "no-key",
    "no signing key: pass --key FILE, set TRACK_RUN_SIGNING_KEY, or make one with `track-run keygen`",
  );
}

/** Trusted keys and identities: every --key, and the trust file (--trust; .track-run/trust.json when it exists). */
async function trusted(keys: string[] | undefined, trust: string | undefined): Promise<TrustSettings> {
  const { readPublicKey, readTrustFile } = await sign();
  const out: TrustSettings = { keys: (keys ?? []).map((k) => readPublicKey(k)), identities: [] };
  const trustFile = trust ?? ".track-run/trust.json";
  if (trust === undefined && !existsSync(trustFile)) return out;
  const file = readTrustFile(trustFile);
  out.keys.push(...file.keys);
  out.identities.push(...file.identities);
  return out;
}

/** Keyless options: token from SIGSTORE_ID_TOKEN or GitHub Actions' OIDC (id-token: write); Sigstore URLs. */
export async function keylessOptions(opts: {
  fulcioUrl?: string;
  rekorUrl?: string;
}): Promise<KeylessOptions> {
  const { githubIdToken } = await sign();
  const { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL } = await loadCommonJs(() => import("sigstore"));
  const env = process.env;
  const getToken = async () => {
    if (env.SIGSTORE_ID_TOKEN) return env.SIGSTORE_ID_TOKEN;
    if (env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
      return githubIdToken(env.ACTIONS_ID_TOKEN_REQUEST_URL, env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
    }
    throw new UsageError(
      "no-oidc-token",
      "keyless signing needs an OIDC token: grant `id-token: write` to the workflow, or set SIGSTORE_ID_TOKEN",
    );
  };
  const o: KeylessOptions = {
    fulcioURL: opts.fulcioUrl ?? env.TRACK_RUN_FULCIO_URL ?? DEFAULT_FULCIO_URL,
    rekorURL: opts.rekorUrl ?? env.TRACK_RUN_REKOR_URL ?? DEFAULT_REKOR_URL,
    getToken,
  };
  if (env.TRACK_RUN_SIGSTORE_RETRIES) o.retries = Number(env.TRACK_RUN_SIGSTORE_RETRIES);
  if (env.TRACK_RUN_SIGSTORE_BACKOFF_MS) o.backoffMs = Number(env.TRACK_RUN_SIGSTORE_BACKOFF_MS);
  return o;
}

interface SignOptions {
  out: string;
  key?: string;
  subject?: string[];
  outputs: string;
  keyless?: boolean;
  fulcioUrl?: string;
  rekorUrl?: string;
  unsigned?: boolean;
  tsa?: string;
  rekor?: string;
  json?: boolean;
}

interface VerifyOptionsCli {
  key?: string[];
  trust?: string;
  trustedRoot?: string;
  outputs?: string;
  deep?: boolean;
  repo: string;
  json?: boolean;
}

async function signCommand(path: string, opts: SignOptions, out: Output): Promise<number> {
  // Where the bundle goes is checked before anything is read or signed.
  checkOutputPath(opts.out, `--out "${opts.out}"`);
  const { validateDocument } = await import("@track-run/core/schema");
  const s = await sign();
  const manifest = validateDocument(
    "manifest",
    readJsonFile(path, "manifest"),
    `manifest "${path}"`,
  ) as RunManifest;
  const extra = (opts.subject ?? []).map((f) => {
    const bytes = readInputFile(f, `subject "${f}"`, { maxBytes: Number.MAX_SAFE_INTEGER });
    return {
      name: relative(resolve(opts.outputs), resolve(f)),
      digest: { sha256: createHash("sha256").update(bytes).digest("hex") },
    };
  });
  const statement = s.buildStatement(manifest, extra);
  const hasKey = Boolean(opts.key || process.env.TRACK_RUN_SIGNING_KEY || process.env.TRACK_RUN_KEY);
  const plan: SigningPlan = {};
  if (opts.unsigned) plan.unsigned = true;
  else {
    if (opts.keyless) plan.keyless = await keylessOptions(opts);
    if (!opts.keyless || hasKey) plan.key = await signingKey(opts.key);
    if (plan.key) {
      const { timestampAuthority, transparencyLog } = await import("./run.js");
      const tsa = timestampAuthority(opts.tsa);
      if (tsa) plan.tsa = tsa;
      const rekor = transparencyLog(opts.rekor);
      if (rekor) plan.rekor = rekor;
    }
  }
  let record: SignedRecord;
  try {
    record = await s.signRecord(statement, plan);
  } catch (e) {
    if (e instanceof s.SigningFailedError) {
      // Never lose the record: keep it, unsigned and marked, beside where the bundle would be.
      const kept = `${opts.out.replace(/(\.sigstore)?\.json$/, "")}.unsigned.json`;
      await writeAtomic(kept, `${JSON.stringify(e.unsigned, null, 2)}\n`);
      out.warn(`kept the unsigned record at ${kept}`);
    }
    throw e;
  }
  for (const n of record.notes) out.warn(n);
  await writeAtomic(opts.out, `${JSON.stringify(record.document, null, 2)}\n`);
  const what = record.method === "unsigned" ? "UNSIGNED envelope" : `signed (${record.method}) bundle`;
  const material = (
    record.document as {
      verificationMaterial?: {
        timestampVerificationData?: { rfc3161Timestamps?: unknown[] };
        tlogEntries?: unknown[];
      };
    }
  ).verificationMaterial;
  const timestamped = Boolean(material?.timestampVerificationData?.rfc3161Timestamps?.length);
  const logged = Boolean(material?.tlogEntries?.length);
  out.result(
    { bundle: opts.out, method: record.method, subjects: statement.subject.length, timestamped, logged },
    () =>
      `${what} ${opts.out} (${statement.subject.length} subjects${timestamped ? ", timestamped" : ""}${logged ? ", in Rekor" : ""})`,
  );
  return 0;
}

function checksText(target: string, r: VerifyReport): string {
  const mark = (c: VerifyCheck) => (c.ok ? "ok  " : "FAIL");
  const lines = r.checks.map((c) => `${mark(c)} ${c.name.padEnd(22)} ${c.detail}`);
  lines.push(
    r.ok
      ? `\n${target}: verified${r.keyId ? ` (key ${r.keyId})` : ""}`
      : `\n${target}: NOT verified (${r.checks.filter((c) => !c.ok).length} check(s) failed)`,
  );
  return lines.join("\n");
}

export function registerSign(program: Command, run: CommandRunner): void {
  program
    .command("keygen")
    .description("make a signing key pair: PREFIX.key (PKCS#8, mode 0600) and PREFIX.pub (SPKI)")
    .requiredOption("--out <PREFIX>", "path prefix of the two files")
    .option("--alg <p256|ed25519>", "ECDSA P-256 (default) or Ed25519", "p256")
    .addOption(jsonOption())
    .action((opts: { out: string; alg: string; json?: boolean }) =>
      run(opts, async (out) => {
        if (opts.alg !== "p256" && opts.alg !== "ed25519")
          throw new UsageError("usage", `--alg "${opts.alg}" must be p256 or ed25519`);
        // A key made under .track-run/ gets its .gitignore first (keys/ never belongs in the repository).
        const { protectTrackRunFolder, trackRunFolderOf } = await import("@track-run/core/run");
        const folder = trackRunFolderOf(opts.out);
        if (folder) protectTrackRunFolder(folder);
        checkOutputPath(`${opts.out}.key`, `--out "${opts.out}"`, { parentMayBeMissing: true });
        const k = (await sign()).generateKeys(opts.out, opts.alg);
        out.result(
          k,
          () =>
            `private key ${k.privateKey} (keep it secret)\npublic key  ${k.publicKey}\nkey id      ${k.keyId}`,
        );
        return 0;
      }),
    );

  program
    .command("sign")
    .description("sign a run manifest: an in-toto statement in a DSSE envelope, written as a Sigstore bundle")
    .argument("<MANIFEST>", "manifest JSON")
    .requiredOption("--out <BUNDLE>", "where to write the bundle (*.sigstore.json)")
    .option("--key <FILE>", "private key (default: $TRACK_RUN_SIGNING_KEY, then $TRACK_RUN_KEY)")
    .option("--subject <FILE...>", "extra subject files (the metrics file), named relative to --outputs")
    .option("--outputs <DIR>", "folder the outputs and subjects are relative to", ".")
    .option(
      "--keyless",
      "sign with Sigstore (OIDC token, Fulcio certificate, Rekor entry); falls back to a key when Sigstore fails",
    )
    .option(
      "--fulcio-url <URL>",
      "Fulcio for --keyless (default: Sigstore's public instance, or $TRACK_RUN_FULCIO_URL)",
    )
    .option(
      "--rekor-url <URL>",
      "Rekor for --keyless (default: Sigstore's public instance, or $TRACK_RUN_REKOR_URL)",
    )
    .option("--unsigned", "write an unsigned DSSE envelope instead, recorded as unsigned")
    .option(
      "--tsa <URL>",
      "RFC 3161 timestamp authority for a key-signed bundle (default: $TRACK_RUN_TSA_URL); kept without a timestamp, with a warning, when it cannot be reached",
    )
    .option(
      "--rekor <URL>",
      "Rekor to log a key-signed bundle in (default: $TRACK_RUN_REKOR_URL), so that Sigstore clients verify it at their default thresholds; kept without an entry, with a warning, when it cannot be reached",
    )
    .addOption(jsonOption())
    .action((path: string, opts: SignOptions) => run(opts, (out) => signCommand(path, opts, out)));

  program
    .command("verify")
    .description(
      "verify a bundle: signature against trusted keys, statement and manifest, subject files; --deep re-checks the pins",
    )
    .argument("<BUNDLE>", "bundle (*.sigstore.json) or unsigned envelope")
    .option("--key <PUB...>", "trusted public key, repeatable")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json if present)")
    .option(
      "--trusted-root <FILE>",
      "Sigstore trusted root (trusted_root.json) for keyless bundles and the timestamp authorities of timestamped ones",
    )
    .option("--outputs <DIR>", "check the subjects against the files in this folder")
    .option(
      "--deep",
      "also re-validate each bag, check the commit exists, and the image is present or pullable",
    )
    .option("--repo <DIR>", "repository for --deep's commit check", ".")
    .addOption(jsonOption())
    .action((path: string, opts: VerifyOptionsCli) => run(opts, (out) => verifyCommand(path, opts, out)));

  program
    .command("export")
    .description("export a run manifest as SLSA Provenance v1, W3C PROV-JSON or RO-Crate 1.1 metadata")
    .argument("<FORMAT>", "slsa, prov or ro-crate")
    .argument("[RUN]", "a run id of the ledger (read verified), or a bundle or manifest JSON file")
    .option(
      "--lineage <DIGEST|RUN>",
      "prov: one document of the whole lineage of a run or digest (every run it reaches, both ways)",
    )
    .option("--ledger-all", "prov: one document of every verified run of the ledger")
    .option("--out <FILE>", "write here instead of stdout")
    .option("--ledger <URI>", "where runs are recorded (default dir:.track-run/ledger; git:https://…#BRANCH)")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json when present)")
    .option("--trusted-key <PUB...>", "a public key trusted to sign runs, repeatable")
    .option("--trusted-root <FILE>", "Sigstore trusted root for keyless records")
    .option(
      "--license <SPDX-OR-URL>",
      "ro-crate: the outputs' license (e.g. Apache-2.0); unset, the crate says none was stated",
    )
    .action((format: string, path: string | undefined, opts: ExportFlags) =>
      run({}, async (out) => {
        if (opts.lineage !== undefined || opts.ledgerAll) return exportLedgerProv(format, path, opts, out);
        if (path === undefined)
          throw new UsageError(
            "usage",
            "export needs a RUN (or, for prov, --lineage DIGEST|RUN or --ledger-all)",
          );
        const m = await import("@track-run/core/manifest");
        const exporter = {
          slsa: m.toSlsaStatement,
          prov: m.toProvJson,
          "ro-crate": (manifest: RunManifest) => m.toRoCrate(manifest, { license: opts.license }),
        }[format];
        if (!exporter)
          throw new UsageError("usage", `export format "${format}" must be slsa, prov or ro-crate`);
        if (opts.out) checkOutputPath(opts.out, `--out "${opts.out}"`);
        const manifest = await exportedManifest(path, opts, out);
        const text = `${JSON.stringify(exporter(manifest), null, 2)}\n`;
        if (opts.out) {
          await writeAtomic(opts.out, text);
          out.info(`wrote ${opts.out}`);
        } else process.stdout.write(text);
        return 0;
      }),
    );
}

interface ExportFlags {
  lineage?: string;
  ledgerAll?: boolean;
  out?: string;
  license?: string;
  ledger?: string;
  trust?: string;
  trustedKey?: string[];
  trustedRoot?: string;
}

/**
 * `export prov --lineage REF` or `--ledger-all`: one PROV-JSON document of the verified runs of a
 * lineage (both ways from REF) or of the whole ledger, joined as the lineage graph joins them. A
 * run that is not verified is left out, with a warning naming it.
 */
async function exportLedgerProv(
  format: string,
  path: string | undefined,
  f: ExportFlags,
  out: Output,
): Promise<number> {
  if (format !== "prov")
    throw new UsageError(
      "usage",
      `--lineage and --ledger-all export W3C PROV-JSON only: use \`track-run export prov\`, not "${format}"`,
    );
  if (path !== undefined)
    throw new UsageError(
      "usage",
      `export prov takes a RUN or --lineage or --ledger-all, not both ("${path}")`,
    );
  if (f.lineage !== undefined && f.ledgerAll)
    throw new UsageError("usage", "export prov takes --lineage DIGEST|RUN or --ledger-all, not both");
  if (f.out) checkOutputPath(f.out, `--out "${f.out}"`);
  const trust = await readTrust({
    ...(f.trustedKey ? { trustedKeys: f.trustedKey } : {}),
    ...(f.trust ? { trust: f.trust } : {}),
    ...(f.trustedRoot ? { trustedRoot: f.trustedRoot } : {}),
  });
  const reader = await readerFor(f.ledger ?? readEnvironment().ledger, trust);
  const { lineageProv, lineageView } = await import("@track-run/core/ledger");
  // One lineage: the runs around it (walk.ts); the whole ledger: every run.
  const { graph, roots, notes } =
    f.lineage !== undefined
      ? await reader.lineageFor(f.lineage, "both")
      : { ...(await reader.lineage()), roots: [] };
  for (const note of notes) out.warn(note);
  let wanted: string[];
  if (f.lineage !== undefined) {
    if (!roots.length)
      throw new UsageError(
        "usage",
        `--lineage "${f.lineage}": no run, output or data of the ledger has this digest; see \`track-run log\` or \`track-run show RUN\``,
      );
    wanted = lineageView(graph, roots, "both").nodes.flatMap((n) =>
      n.kind === "run" && n.runId ? [n.runId] : [],
    );
  } else wanted = (await reader.runs()).map((r) => r.runId);
  const manifests: RunManifest[] = [];
  for (const runId of [...new Set(wanted)].sort()) {
    // The whole record: a listing keeps no host facts or command line.
    const r = await reader.find(runId);
    if (!r) continue;
    if (r.trust === "verified" && r.manifest) manifests.push(r.manifest);
    else out.warn(`run ${r.runId} is ${r.trust} and left out: ${r.problems.join("; ")}`);
  }
  const text = `${JSON.stringify(lineageProv(manifests, graph), null, 2)}\n`;
  if (f.out) {
    await writeAtomic(f.out, text);
    out.info(`wrote ${f.out} (${manifests.length} run${manifests.length === 1 ? "" : "s"})`);
  } else process.stdout.write(text);
  return 0;
}

/** RUN as a file (bundle, envelope or manifest), or a run id read through the verified reader. */
async function exportedManifest(run: string, f: ExportFlags, out: Output): Promise<RunManifest> {
  if (existsSync(run) || !isName(run)) return manifestFrom(run);
  const trust = await readTrust({
    ...(f.trustedKey ? { trustedKeys: f.trustedKey } : {}),
    ...(f.trust ? { trust: f.trust } : {}),
    ...(f.trustedRoot ? { trustedRoot: f.trustedRoot } : {}),
  });
  const reader = await readerFor(f.ledger ?? readEnvironment().ledger, trust);
  const { loadRun } = await import("@track-run/core/ledger");
  const record = await loadRun(reader, run);
  if (record.trust !== "verified") out.warn(`run ${run} is ${record.trust}: ${record.problems.join("; ")}`);
  return record.manifest;
}

/** A manifest from a bundle, an unsigned envelope or a manifest file; validated. */
async function manifestFrom(path: string): Promise<RunManifest> {
  const { validateDocument } = await import("@track-run/core/schema");
  const { decodeBase64 } = await sign();
  const raw = readJsonFile(path, "run");
  const doc = (raw && typeof raw === "object" ? raw : {}) as {
    dsseEnvelope?: { payload?: unknown };
    payload?: unknown;
  };
  const payload =
    doc.dsseEnvelope && typeof doc.dsseEnvelope === "object" ? doc.dsseEnvelope.payload : doc.payload;
  if (payload !== undefined) {
    const bytes = typeof payload === "string" ? decodeBase64(payload) : undefined;
    let statement: unknown;
    try {
      statement = bytes ? JSON.parse(bytes.toString("utf8")) : undefined;
    } catch {
      throw new UsageError("bad-bundle", `the payload of "${path}" is not a JSON statement`);
    }
    const predicate =
      statement && typeof statement === "object"
        ? (statement as { predicate?: unknown }).predicate
        : undefined;
    return validateDocument("manifest", predicate, `the manifest in "${path}"`) as RunManifest;
  }
  return validateDocument("manifest", raw, `manifest "${path}"`) as RunManifest;
}

async function verifyCommand(path: string, opts: VerifyOptionsCli, out: Output): Promise<number> {
  const doc = readJsonFile(path, "bundle");
  const trust = await trusted(opts.key, opts.trust);
  const trustedRoot = opts.trustedRoot ? readJsonFile(opts.trustedRoot, "trusted root") : undefined;
  const { verifyBundle } = await sign();
  const deep = opts.deep ? (await import("./deep.js")).deepChecks(opts.repo, readEnvironment()) : undefined;
  const report = await verifyBundle(doc, {
    keys: trust.keys,
    identities: trust.identities,
    ...(trustedRoot ? { trustedRoot } : {}),
    ...(opts.outputs ? { subjectsDir: opts.outputs } : {}),
    recordDir: dirname(resolve(path)),
    ...(deep ? { deep } : {}),
  });
  out.result(
    {
      ok: report.ok,
      keyId: report.keyId,
      identity: report.identity,
      signed: report.signed,
      timestamp: report.timestamp,
      runId: report.manifest?.runId,
      checks: report.checks,
    },
    () => checksText(path, report),
  );
  return report.ok ? 0 : 1;
}
