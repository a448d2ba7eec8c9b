import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import type { RunManifest } from "@track-run/core";
import { fsInputError, UsageError } from "@track-run/core/errors";
import type { PublicKeyInfo, VerifyCheck, VerifyReport } from "@track-run/core/sign";
import type { Command } from "commander";
import { readEnvironment } from "../context.js";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";

const sign = () => import("@track-run/core/sign");

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw fsInputError(`${what} "${path}"`, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError("bad-json", `${what} "${path}" is not JSON: ${(e as Error).message}`);
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(resolve(path)), `.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, path);
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

/** Trusted keys: every --key, every key of --trust (default .track-run/trust.json when it exists). */
async function trustedKeys(keys: string[] | undefined, trust: string | undefined): Promise<PublicKeyInfo[]> {
  const { readPublicKey, readTrustFile } = await sign();
  const out: PublicKeyInfo[] = (keys ?? []).map((k) => readPublicKey(k));
  const trustFile = trust ?? ".track-run/trust.json";
  try {
    out.push(...readTrustFile(trustFile));
  } catch (e) {
    if (trust !== undefined) throw e;
  }
  return out;
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
    .option("--unsigned", "write an unsigned DSSE envelope instead, recorded as unsigned")
    .addOption(jsonOption())
    .action(
      (
        path: string,
        opts: {
          out: string;
          key?: string;
          subject?: string[];
          outputs: string;
          unsigned?: boolean;
          json?: boolean;
        },
      ) =>
        run(opts, async (out) => {
          const { validateDocument } = await import("@track-run/core/schema");
          const s = await sign();
          const manifest = validateDocument(
            "manifest",
            readJson(path, "manifest"),
            `manifest "${path}"`,
          ) as RunManifest;
          const extra = (opts.subject ?? []).map((f) => {
            let bytes: Buffer;
            try {
              bytes = readFileSync(f);
            } catch (e) {
              throw fsInputError(`subject "${f}"`, e);
            }
            return {
              name: relative(resolve(opts.outputs), resolve(f)),
              digest: { sha256: createHash("sha256").update(bytes).digest("hex") },
            };
          });
          const statement = s.buildStatement(manifest, extra);
          const doc = opts.unsigned
            ? s.unsignedEnvelope(statement)
            : s.signStatement(statement, await signingKey(opts.key));
          await writeAtomic(opts.out, `${JSON.stringify(doc, null, 2)}\n`);
          out.result(
            { bundle: opts.out, signed: !opts.unsigned, subjects: statement.subject.length },
            () =>
              `${opts.unsigned ? "UNSIGNED envelope" : "signed bundle"} ${opts.out} (${statement.subject.length} subjects)`,
          );
          return 0;
        }),
    );

  program
    .command("verify")
    .description(
      "verify a bundle: signature against trusted keys, statement and manifest, subject files; --deep re-checks the pins",
    )
    .argument("<BUNDLE>", "bundle (*.sigstore.json) or unsigned envelope")
    .option("--key <PUB...>", "trusted public key, repeatable")
    .option("--trust <FILE>", "trust file (default .track-run/trust.json if present)")
    .option("--outputs <DIR>", "check the subjects against the files in this folder")
    .option(
      "--deep",
      "also re-validate each bag, check the commit exists, and the image is present or pullable",
    )
    .option("--repo <DIR>", "repository for --deep's commit check", ".")
    .addOption(jsonOption())
    .action(
      (
        path: string,
        opts: {
          key?: string[];
          trust?: string;
          outputs?: string;
          deep?: boolean;
          repo: string;
          json?: boolean;
        },
      ) => run(opts, async (out) => verifyCommand(path, opts, out)),
    );

  program
    .command("export")
    .description("export a run manifest as SLSA Provenance v1, W3C PROV-JSON or RO-Crate 1.1 metadata")
    .argument("<FORMAT>", "slsa, prov or ro-crate")
    .argument("<RUN>", "a bundle or a manifest JSON")
    .option("--out <FILE>", "write here instead of stdout")
    .action((format: string, path: string, opts: { out?: string }) =>
      run({}, async (out) => {
        const m = await import("@track-run/core/manifest");
        const exporter = { slsa: m.toSlsaStatement, prov: m.toProvJson, "ro-crate": m.toRoCrate }[format];
        if (!exporter)
          throw new UsageError("usage", `export format "${format}" must be slsa, prov or ro-crate`);
        const manifest = await manifestFrom(path);
        const text = `${JSON.stringify(exporter(manifest), null, 2)}\n`;
        if (opts.out) {
          await writeAtomic(opts.out, text);
          out.info(`wrote ${opts.out}`);
        } else process.stdout.write(text);
        return 0;
      }),
    );
}

/** A manifest from a bundle, an unsigned envelope or a manifest file; validated. */
async function manifestFrom(path: string): Promise<RunManifest> {
  const { validateDocument } = await import("@track-run/core/schema");
  const { decodeBase64 } = await sign();
  const doc = readJson(path, "run") as {
    dsseEnvelope?: { payload: string };
    payload?: string;
    predicate?: unknown;
  };
  const payload = doc.dsseEnvelope?.payload ?? doc.payload;
  if (payload !== undefined) {
    const bytes = decodeBase64(payload);
    const statement = bytes ? (JSON.parse(bytes.toString("utf8")) as { predicate?: unknown }) : undefined;
    return validateDocument("manifest", statement?.predicate, `the manifest in "${path}"`) as RunManifest;
  }
  return validateDocument("manifest", doc, `manifest "${path}"`) as RunManifest;
}

async function verifyCommand(
  path: string,
  opts: { key?: string[]; trust?: string; outputs?: string; deep?: boolean; repo: string; json?: boolean },
  out: Output,
): Promise<number> {
  const doc = readJson(path, "bundle");
  const keys = await trustedKeys(opts.key, opts.trust);
  const { verifyBundle } = await sign();
  const deep = opts.deep ? (await import("./deep.js")).deepChecks(opts.repo, readEnvironment()) : undefined;
  const report = await verifyBundle(doc, {
    keys,
    ...(opts.outputs ? { subjectsDir: opts.outputs } : {}),
    ...(deep ? { deep } : {}),
  });
  out.result(
    {
      ok: report.ok,
      keyId: report.keyId,
      signed: report.signed,
      runId: report.manifest?.runId,
      checks: report.checks,
    },
    () => checksText(path, report),
  );
  return report.ok ? 0 : 1;
}
