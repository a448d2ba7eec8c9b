// Verifying a run's bundle: the envelope's signature against trusted keys, the statement and
// manifest schemas, the subjects against files present, and (deep) the pins themselves. Each check
// says exactly what failed.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { basename, join } from "node:path";
import { bundleFromJSON } from "@sigstore/bundle";
import type { RunManifest } from "../__generated__/index.js";
import { canonicalDigest } from "../manifest/canonical.js";
import { schemaProblems } from "../schema/validate.js";
import { loadCommonJs } from "../util/interop.js";
import { outputPathProblem } from "../util/names.js";
import { resolveInside } from "../util/safe-fs.js";
import { decodeBase64, INTOTO_PAYLOAD_TYPE, pae, verifyPae } from "./dsse.js";
import { describeIdentity, type IdentityRule, matchIdentity, type SignerIdentity } from "./identity.js";
import type { PublicKeyInfo } from "./keys.js";
import { bundleLogEntries } from "./rekor.js";
import {
  INVALIDATION_PREDICATE_TYPE,
  MANIFEST_PREDICATE_TYPE,
  PROMOTION_PREDICATE_TYPE,
  REPRODUCTION_PREDICATE_TYPE,
  STATEMENT_TYPE,
  type Statement,
} from "./statement.js";
import { bundleTimestamps } from "./timestamp.js";

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  checks: VerifyCheck[];
  /** The key that verified the signature. */
  keyId?: string;
  /** The keyless signer, when the bundle carries a Fulcio certificate. */
  identity?: SignerIdentity;
  signed: boolean;
  statement?: Statement;
  manifest?: RunManifest;
  /** "sha256:…" of the payload whose signature was checked: the identity of the signed statement. */
  payloadDigest?: string;
  /** When a timestamp authority says the signature existed (RFC 3161), as ISO 8601; set when checked. */
  timestamp?: string;
}

/** The most signatures an envelope may carry: each costs a full signature check. */
export const MAX_SIGNATURES = 8;

/** Extra checks of --deep, each given the manifest; a failed check throws or returns a message. */
export type DeepCheck = (m: RunManifest) => Promise<VerifyCheck[]>;

export interface VerifyOptions {
  keys: readonly PublicKeyInfo[];
  /** Keyless signers accepted: OIDC issuer and subject patterns. */
  identities?: readonly IdentityRule[];
  /** Sigstore trusted root (trusted_root.json): for keyless bundles, and the timestamp authorities of timestamped ones. */
  trustedRoot?: unknown;
  /** Folder the subjects' names are relative to (the outputs folder); unset: subjects are not checked. */
  subjectsDir?: string;
  /** The record's own folder (where the bundle is): subjects named track-run/FILE are its files. */
  recordDir?: string;
  deep?: DeepCheck;
}

interface RawEnvelope {
  payloadType?: unknown;
  payload?: unknown;
  signatures?: unknown;
}

export async function verifyBundle(doc: unknown, o: VerifyOptions): Promise<VerifyReport> {
  const checks: VerifyCheck[] = [];
  const report: VerifyReport = { ok: false, checks, signed: false };
  const add = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    return ok;
  };

  // 1. Structure: a Sigstore bundle (validated by @sigstore/bundle), or a bare unsigned envelope.
  let envelope: RawEnvelope;
  let hint: string | undefined;
  const d = doc as {
    mediaType?: unknown;
    dsseEnvelope?: RawEnvelope;
    verificationMaterial?: {
      publicKey?: { hint?: string };
      certificate?: unknown;
      x509CertificateChain?: unknown;
    };
  };
  const keyless = Boolean(
    d?.verificationMaterial?.certificate || d?.verificationMaterial?.x509CertificateChain,
  );
  if (d && typeof d === "object" && "mediaType" in d) {
    try {
      bundleFromJSON(doc);
    } catch (e) {
      add("bundle", false, `not a valid Sigstore bundle: ${(e as Error).message}`);
      return report;
    }
    if (!d.dsseEnvelope) {
      add("bundle", false, "the bundle holds a message signature, not a DSSE envelope");
      return report;
    }
    envelope = d.dsseEnvelope;
    hint = d.verificationMaterial?.publicKey?.hint;
    add("bundle", true, `Sigstore bundle ${String(d.mediaType)}`);
  } else if (d && typeof d === "object" && "payloadType" in d) {
    if ("dsseEnvelope" in d) {
      add(
        "bundle",
        false,
        "both a bare envelope and a bundle's dsseEnvelope: which one is signed is ambiguous",
      );
      return report;
    }
    envelope = d as RawEnvelope;
    add("bundle", true, "a bare DSSE envelope (not a Sigstore bundle)");
  } else {
    add("bundle", false, "neither a Sigstore bundle nor a DSSE envelope");
    return report;
  }

  if (
    !add(
      "payload-type",
      envelope.payloadType === INTOTO_PAYLOAD_TYPE,
      `payloadType is ${JSON.stringify(envelope.payloadType)}${envelope.payloadType === INTOTO_PAYLOAD_TYPE ? "" : `, expected ${INTOTO_PAYLOAD_TYPE}`}`,
    )
  ) {
    return report;
  }
  const payload = typeof envelope.payload === "string" ? decodeBase64(envelope.payload) : undefined;
  if (!add("payload", payload !== undefined, payload ? `${payload.length} bytes` : "payload is not base64"))
    return report;
  report.payloadDigest = `sha256:${createHash("sha256").update(payload!).digest("hex")}`;

  // 2. Signature: at least one signature verifies with a trusted key, whose id is the one the bundle names.
  // A document from anywhere: signatures may be anything, each entry too.
  const rawSigs: unknown = envelope.signatures ?? [];
  const sigs = (Array.isArray(rawSigs) ? rawSigs : []).map((s: unknown) =>
    s && typeof s === "object" ? (s as { sig?: unknown; keyid?: unknown }) : {},
  );
  report.signed = sigs.length > 0;
  if (!Array.isArray(rawSigs)) add("signature", false, "the envelope's signatures is not a list");
  else if (sigs.length > MAX_SIGNATURES)
    add(
      "signature",
      false,
      `the envelope carries ${sigs.length} signatures, more than the ${MAX_SIGNATURES} checked`,
    );
  else if (sigs.length === 0)
    add("signature", false, "the record is unsigned (made with --unsigned, or signing failed)");
  else if (keyless) {
    const r = await verifyKeyless(doc, o);
    if (r.identity) report.identity = r.identity;
    add("signature", r.ok, r.detail);
  } else if (o.keys.length === 0)
    add("signature", false, "no trusted key to check against: pass --key PUB or --trust FILE");
  else {
    const data = pae(INTOTO_PAYLOAD_TYPE, payload!);
    let verified: PublicKeyInfo | undefined;
    const problems: string[] = [];
    for (const [i, s] of sigs.entries()) {
      const sig = typeof s.sig === "string" ? decodeBase64(s.sig) : undefined;
      if (!sig) {
        problems.push(`signature ${i} is not base64`);
        continue;
      }
      const key = o.keys.find((k) => verifyPae(k, data, sig));
      if (!key) {
        problems.push(
          `signature ${i} does not verify with ${o.keys.length === 1 ? `the trusted key ${o.keys[0]!.keyId}` : `any of ${o.keys.length} trusted keys`}`,
        );
        continue;
      }
      const claimed = [hint, typeof s.keyid === "string" ? s.keyid : undefined].filter((x): x is string =>
        Boolean(x),
      );
      const wrong = claimed.find((c) => c !== key.keyId);
      if (wrong) {
        problems.push(
          `key id ${wrong} in the bundle is not the id of the key that verifies it (${key.keyId})`,
        );
        continue;
      }
      verified = key;
      break;
    }
    if (verified) {
      report.keyId = verified.keyId;
      add("signature", true, `signed by trusted key ${verified.keyId}`);
      const t = await checkTimestamps(doc, verified, o.trustedRoot);
      if (t) {
        add("timestamp", t.ok, t.detail);
        if (t.ok && t.time) report.timestamp = t.time;
      }
      const l = await checkLogEntries(doc, verified, o.trustedRoot);
      if (l) add("transparency-log", l.ok, l.detail);
    } else add("signature", false, problems.join("; "));
  }

  // 3. Statement and manifest.
  let statement: Statement | undefined;
  try {
    statement = JSON.parse(payload!.toString("utf8")) as Statement;
  } catch {
    add("statement", false, "the payload is not JSON");
  }
  if (statement) {
    const problems: string[] = [];
    if (statement._type !== STATEMENT_TYPE)
      problems.push(`_type is ${JSON.stringify(statement._type)}, expected ${STATEMENT_TYPE}`);
    const promotion = statement.predicateType === PROMOTION_PREDICATE_TYPE;
    const reproduction =
      statement.predicateType === REPRODUCTION_PREDICATE_TYPE ||
      statement.predicateType === INVALIDATION_PREDICATE_TYPE;
    if (statement.predicateType !== MANIFEST_PREDICATE_TYPE && !promotion && !reproduction)
      problems.push(
        `predicateType is ${JSON.stringify(statement.predicateType)}, expected ${MANIFEST_PREDICATE_TYPE}, ${PROMOTION_PREDICATE_TYPE}, ${REPRODUCTION_PREDICATE_TYPE} or ${INVALIDATION_PREDICATE_TYPE}`,
      );
    if (!Array.isArray(statement.subject)) problems.push("subject is not a list");
    add(
      "statement",
      problems.length === 0,
      problems.length ? problems.join("; ") : `in-toto Statement v1, ${statement.subject.length} subjects`,
    );
    if (promotion) {
      report.statement = statement;
      checks.push(...promotionChecks(statement, o.recordDir));
    } else if (reproduction) {
      report.statement = statement;
    } else {
      const mp = schemaProblems("manifest", statement.predicate);
      add(
        "manifest",
        mp.length === 0,
        mp.length
          ? `the manifest does not match its schema: ${mp.map((p) => `${p.path || "/"}: ${p.message}`).join("; ")}`
          : `run ${statement.predicate.runId} of model ${statement.predicate.model}`,
      );
      if (mp.length === 0) {
        report.statement = statement;
        report.manifest = statement.predicate;
      }
    }
  }

  // 4. Subjects against the files present: outputs under subjectsDir, the record's own files (track-run/…) beside the bundle.
  if (
    statement &&
    statement.predicateType === MANIFEST_PREDICATE_TYPE &&
    Array.isArray(statement.subject) &&
    (o.subjectsDir || o.recordDir)
  ) {
    for (const s of statement.subject) {
      const subject = subjectFile(s?.name, o.subjectsDir, o.recordDir);
      if (subject === undefined) continue;
      if (!subject.ok) {
        add(`subject ${String(s?.name)}`, false, subject.reason);
        continue;
      }
      const path = subject.path;
      let actual: string;
      try {
        actual = createHash("sha256").update(fs.readFileSync(path)).digest("hex");
      } catch {
        add(`subject ${s.name}`, false, `${path} is missing`);
        continue;
      }
      const ok = actual === s.digest?.sha256;
      add(
        `subject ${s.name}`,
        ok,
        ok ? "sha256 matches" : `sha256 is ${actual}, the statement says ${s.digest?.sha256}`,
      );
    }
  }

  if (o.deep && report.manifest) checks.push(...(await o.deep(report.manifest)));
  report.ok = checks.every((c) => c.ok);
  return report;
}

/**
 * The file a subject names: outputs under `subjectsDir`, the record's own files ("track-run/FILE")
 * under `recordDir`; undefined when that folder is not given. The name must be an output name (a
 * relative path: no absolute path, no "..", no backslash) and the file must lie inside its folder,
 * links resolved, and be a regular file.
 */
function subjectFile(
  name: unknown,
  subjectsDir: string | undefined,
  recordDir: string | undefined,
): { ok: true; path: string } | { ok: false; reason: string } | undefined {
  const own = typeof name === "string" && name.startsWith("track-run/");
  const base = own ? recordDir : subjectsDir;
  if (!base) return undefined;
  const rel = own ? (name as string).slice("track-run/".length) : name;
  const problem = outputPathProblem(rel);
  if (problem !== undefined)
    return { ok: false, reason: `the subject name ${problem}, so it cannot name a file in the folder` };
  const inside = resolveInside(base, rel as string);
  if (!inside.ok) return { ok: false, reason: `subject name points outside the folder: ${inside.reason}` };
  let st: fs.Stats;
  try {
    st = fs.statSync(inside.path);
  } catch {
    return { ok: true, path: inside.path };
  }
  if (!st.isFile()) return { ok: false, reason: `${inside.path} is not a regular file` };
  return inside;
}

/**
 * A promotion record: the pointer's shape, its subject naming the promoted run's manifest by
 * digest, and, when the record sits in a ledger (models/<model>/promotions/), that manifest.
 */
function promotionChecks(statement: Statement, recordDir: string | undefined): VerifyCheck[] {
  const p = statement.predicate as unknown as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of ["model", "runId", "promotedAt"] as const)
    if (typeof p?.[k] !== "string") problems.push(`${k} is missing`);
  if (!Number.isInteger(p?.seq) || (p.seq as number) < 1) problems.push("seq is not a positive integer");
  if (p?.kind !== "promotion" && p?.kind !== "rollback")
    problems.push("kind is neither promotion nor rollback");
  const digest = typeof p?.manifestDigest === "string" ? p.manifestDigest : "";
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) problems.push("manifestDigest is not sha256:HEX");
  const subject = Array.isArray(statement.subject) ? statement.subject[0] : undefined;
  if (
    subject?.name !== `runs/${String(p?.runId)}/manifest.json` ||
    `sha256:${subject.digest?.sha256}` !== digest
  )
    problems.push("the subject is not the promoted run's manifest digest");
  const checks: VerifyCheck[] = [
    {
      name: "promotion",
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${p.kind} #${p.seq}: run ${p.runId} of model ${p.model} at ${p.promotedAt}`,
    },
  ];
  if (problems.length === 0 && recordDir && basename(recordDir) === "promotions") {
    const file = join(recordDir, "..", "..", "..", "runs", String(p.runId), "manifest.json");
    let actual: string | undefined;
    try {
      actual = canonicalDigest(JSON.parse(fs.readFileSync(file, "utf8")));
    } catch {
      actual = undefined;
    }
    checks.push({
      name: `subject runs/${p.runId}/manifest.json`,
      ok: actual === digest,
      detail:
        actual === undefined
          ? `${file} is missing or not JSON`
          : actual === digest
            ? "the ledger's manifest has the promoted digest"
            : `the ledger's manifest digest is ${actual}, the promotion says ${digest}`,
    });
  }
  return checks;
}

/**
 * The RFC 3161 timestamps of a key-signed bundle (undefined when it has none: nothing to check).
 * Against a trusted root that lists timestamp authorities, each must be a timestamp by one of them
 * over this signature, within the authority's validity, as Sigstore verifiers require; without one,
 * the time is reported as unchecked.
 */
async function checkTimestamps(
  doc: unknown,
  key: PublicKeyInfo,
  trustedRoot: unknown,
): Promise<{ ok: boolean; detail: string; time?: string } | undefined> {
  let stamps: Awaited<ReturnType<typeof bundleTimestamps>>;
  try {
    stamps = await bundleTimestamps(doc);
  } catch (e) {
    return { ok: false, detail: `the bundle's RFC 3161 timestamp cannot be read: ${(e as Error).message}` };
  }
  if (stamps.length === 0) return undefined;
  const when = stamps.map((t) => t.signingTime.toISOString()).join(", ");
  const authorities = (trustedRoot as { timestampAuthorities?: unknown[] } | undefined)?.timestampAuthorities;
  if (!Array.isArray(authorities) || authorities.length === 0)
    return {
      ok: true,
      detail: `RFC 3161 timestamp ${when}, not checked: pass --trusted-root FILE listing its timestamp authority`,
    };
  const verify = await keyVerifier(key, trustedRoot);
  try {
    // The Rekor entry, if any, is checked on its own (checkLogEntries).
    verify(withMaterial(doc, { tlogEntries: [] }), { tlogThreshold: 0, timestampThreshold: stamps.length });
  } catch (e) {
    return {
      ok: false,
      detail: `the RFC 3161 timestamp does not verify against the trusted root's timestamp authorities: ${(e as Error).message}`,
    };
  }
  return {
    ok: true,
    detail: `RFC 3161 timestamp ${when}, by a timestamp authority of the trusted root`,
    time: stamps[0]!.signingTime.toISOString(),
  };
}

/**
 * A check of a key-signed bundle by sigstore-js's verifier against the trusted root, with this key
 * as the signer's and the given thresholds (no certificate logs): it throws when the bundle fails.
 */
async function keyVerifier(
  key: PublicKeyInfo,
  trustedRoot: unknown,
): Promise<(doc: unknown, thresholds: { tlogThreshold: number; timestampThreshold: number }) => void> {
  const { Verifier, toSignedEntity, toTrustMaterial } = await loadCommonJs(() => import("@sigstore/verify"));
  const { TrustedRoot } = await loadCommonJs(() => import("@sigstore/protobuf-specs"));
  return (doc, thresholds) => {
    const material = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), () => ({
      publicKey: key.key,
      validFor: () => true,
    }));
    new Verifier(material, { ...thresholds, ctlogThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(doc)));
  };
}

/** The bundle with parts of its verification material replaced, to check one kind of evidence alone. */
function withMaterial(doc: unknown, replace: Record<string, unknown>): unknown {
  const d = doc as { verificationMaterial?: Record<string, unknown> };
  return { ...d, verificationMaterial: { ...d.verificationMaterial, ...replace } };
}

/**
 * The Rekor entries of a key-signed bundle (undefined when it has none: nothing to check). Against
 * a trusted root that lists transparency logs, each must be an entry of one of them (signed entry
 * timestamp, inclusion proof) that logs this envelope's signature and payload, as Sigstore
 * verifiers require; without one, the entry is reported as unchecked (the key still decides).
 */
async function checkLogEntries(
  doc: unknown,
  key: PublicKeyInfo,
  trustedRoot: unknown,
): Promise<{ ok: boolean; detail: string } | undefined> {
  const entries = bundleLogEntries(doc);
  if (entries.length === 0) return undefined;
  const what = entries
    .map(
      (e) =>
        `Rekor entry ${e.logIndex}${e.hasPromise ? `, integrated ${e.integratedTime.toISOString()}` : ""}`,
    )
    .join("; ");
  const logs = (trustedRoot as { tlogs?: unknown[] } | undefined)?.tlogs;
  if (!Array.isArray(logs) || logs.length === 0)
    return {
      ok: true,
      detail: `${what}, not checked: pass --trusted-root FILE listing its transparency log`,
    };
  const verify = await keyVerifier(key, trustedRoot);
  try {
    // The RFC 3161 timestamps, if any, are checked on their own (checkTimestamps).
    verify(withMaterial(doc, { timestampVerificationData: { rfc3161Timestamps: [] } }), {
      tlogThreshold: entries.length,
      timestampThreshold: 0,
    });
  } catch (e) {
    return {
      ok: false,
      detail: `the Rekor entry does not verify against the trusted root's transparency logs: ${(e as Error).message}`,
    };
  }
  return { ok: true, detail: `${what}, in a transparency log of the trusted root` };
}

/** A keyless bundle: certificate chain to the trusted root, Rekor entry, signature, then the identity policy. */
async function verifyKeyless(
  doc: unknown,
  o: VerifyOptions,
): Promise<{ ok: boolean; detail: string; identity?: SignerIdentity }> {
  if (!o.trustedRoot) {
    return {
      ok: false,
      detail:
        "keyless bundle: pass --trusted-root FILE (Sigstore's trusted_root.json) to check its certificate",
    };
  }
  const { Verifier, toSignedEntity, toTrustMaterial } = await loadCommonJs(() => import("@sigstore/verify"));
  const { TrustedRoot } = await loadCommonJs(() => import("@sigstore/protobuf-specs"));
  let signer: { identity?: { subjectAlternativeName?: string; extensions?: { issuer?: string } } };
  try {
    const material = toTrustMaterial(TrustedRoot.fromJSON(o.trustedRoot));
    signer = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 1 }).verify(
      toSignedEntity(bundleFromJSON(doc)),
    );
  } catch (e) {
    return {
      ok: false,
      detail: `keyless signature does not verify against the trusted root: ${(e as Error).message}`,
    };
  }
  const identity = describeIdentity(
    signer.identity?.extensions?.issuer ?? "",
    signer.identity?.subjectAlternativeName ?? "",
  );
  const who = `${identity.subject} (issuer ${identity.issuer})`;
  if (!o.identities?.length) {
    return {
      ok: false,
      detail: `signed keyless by ${who}, but the trust policy lists no identities to accept`,
      identity,
    };
  }
  const rule = matchIdentity(identity, o.identities);
  return rule
    ? {
        ok: true,
        detail: `signed keyless by ${who}, accepted by ${rule.name ?? "an identity rule"}`,
        identity,
      }
    : {
        ok: false,
        detail: `signed keyless by ${who}, which no identity in the trust policy accepts`,
        identity,
      };
}
