// Verifying one run folder of a ledger snapshot: the bundle against the trust policy, the folder's
// name against the signed run id, and every stored file the signed record covers against its
// signed digest. The manifest a command uses is the signed predicate, never manifest.json.

import { createHash } from "node:crypto";
import type { RunManifest } from "../__generated__/index.js";
import { canonicalDigest } from "../manifest/canonical.js";
import { LOG_TAIL_BYTES } from "../manifest/log.js";
import { decodeBase64 } from "../sign/dsse.js";
import type { IdentityRule } from "../sign/identity.js";
import type { PublicKeyInfo } from "../sign/keys.js";
import {
  MANIFEST_PREDICATE_TYPE,
  PROMOTION_PREDICATE_TYPE,
  REPRODUCTION_PREDICATE_TYPE,
  type Statement,
} from "../sign/statement.js";
import { verifyBundle } from "../sign/verify.js";
import { type LedgerSnapshot, PROMOTION_COPY } from "./types.js";

export interface Trust {
  keys: readonly PublicKeyInfo[];
  identities?: readonly IdentityRule[];
  trustedRoot?: unknown;
}

/**
 * What the reader makes of a record:
 * - verified: signed by a trusted key or identity, and every stored file matches the signed record;
 * - unsigned: no signature (made with --unsigned, or signing failed); its files match its own digests;
 * - untrusted: signed, but not by a key or identity of the trust policy; files match;
 * - damaged: unreadable, or contradicting itself (a file edited, a folder renamed): never used.
 */
export type RecordTrust = "verified" | "unsigned" | "untrusted" | "damaged";

/** A reproduction of another run, as its signed reproduction record states it. */
export interface ReproductionClaim {
  trust: RecordTrust;
  of: string;
  ofManifestDigest: string;
  verdict: string;
  problems: string[];
}

export interface RunRecord {
  runId: string;
  /** Where the record is, as people read it. */
  where: string;
  trust: RecordTrust;
  /** The signed manifest (absent when the record is damaged). */
  manifest?: RunManifest;
  /** "sha256:…" of the signed manifest's canonical JSON. */
  manifestDigest?: string;
  /** Who signed it (key id or keyless identity), when it verified. */
  signer?: string;
  /** Why the record is not verified: each problem names the file. */
  problems: string[];
  /** Its signed reproduction record, when the run reproduces another. */
  reproduction?: ReproductionClaim;
  /** The bundle (or unsigned envelope) as stored, parsed. */
  document?: unknown;
  /** Copies of promotion records kept in the folder (evidence of each model's history), each as it verified. */
  promotionCopies?: PromotionCopy[];
}

/**
 * A copy of a promotion record in a run folder: its file name and, when it verified against the
 * trust policy as a promotion of this very run, the model, number and digest of its signed statement.
 */
export interface PromotionCopy {
  name: string;
  model?: string;
  seq?: number;
  digest?: string;
}

export const sha256Hex = (b: Uint8Array | string): string => createHash("sha256").update(b).digest("hex");

const BUNDLE = "bundle.sigstore.json";
const UNSIGNED = "record.unsigned.json";

/** Reads a file of the run; a file the snapshot refuses to read (a link, a FIFO) is a problem. */
async function readFile(
  s: LedgerSnapshot,
  runId: string,
  name: string,
  problems: string[],
): Promise<Buffer | undefined> {
  try {
    return await s.readRunFile(runId, name);
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}

/** Deeper nesting than any record has: refused before parsing, as later steps recurse over it. */
const MAX_JSON_DEPTH = 64;

/** True when the JSON text nests arrays or objects deeper than `max` (strings skipped). */
export function nestsDeeper(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // a backslash escapes the next character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

function parseJson(body: Buffer, what: string, problems: string[]): unknown {
  const text = body.toString("utf8");
  if (nestsDeeper(text)) {
    problems.push(`${what} nests deeper than ${MAX_JSON_DEPTH} levels: not a record`);
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.push(`${what} is not JSON (${(e as Error).message})`);
    return undefined;
  }
}

/** A file of the snapshot as parsed JSON; undefined when it is missing, unreadable or not JSON. */
export async function readJsonRecord(read: () => Promise<Buffer | undefined>): Promise<unknown> {
  const body = await read().catch(() => undefined);
  if (!body) return undefined;
  const text = body.toString("utf8");
  if (nestsDeeper(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The statement inside a bundle or an unsigned envelope, without checking any signature. */
export function statementOf(doc: unknown): Statement | undefined {
  const d = doc as { dsseEnvelope?: { payload?: unknown }; payload?: unknown } | null;
  const payload = d?.dsseEnvelope?.payload ?? d?.payload;
  if (typeof payload !== "string") return undefined;
  const bytes = decodeBase64(payload);
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString("utf8")) as Statement;
  } catch {
    return undefined;
  }
}

export interface SignatureVerdict {
  trust: Exclude<RecordTrust, "damaged"> | "damaged";
  statement?: Statement;
  signer?: string;
  /** "sha256:…" of the payload whose signature was checked (what a hash chain names). */
  payloadDigest?: string;
  problems: string[];
}

/**
 * A signed document's signature against the trust policy, and its statement. Verdicts are kept by
 * the document's digest so a record is verified once however often a command meets it.
 */
export async function checkSignature(
  doc: unknown,
  trust: Trust,
  predicateType: string,
  where: string,
  memo?: Map<string, Promise<SignatureVerdict>>,
): Promise<SignatureVerdict> {
  let key: string;
  try {
    key = `${predicateType} ${sha256Hex(JSON.stringify(doc))}`;
  } catch {
    return { trust: "damaged", problems: [`${where} cannot be read (nested too deeply)`] };
  }
  const hit = memo?.get(key);
  if (hit) return hit;
  const p = (async (): Promise<SignatureVerdict> => {
    let report: Awaited<ReturnType<typeof verifyBundle>>;
    try {
      report = await verifyBundle(doc, {
        keys: trust.keys,
        ...(trust.identities ? { identities: trust.identities } : {}),
        ...(trust.trustedRoot ? { trustedRoot: trust.trustedRoot } : {}),
      });
    } catch (e) {
      return { trust: "damaged", problems: [`${where} cannot be verified: ${(e as Error).message}`] };
    }
    const failed = report.checks.filter((c) => !c.ok && c.name !== "signature");
    const statement = report.statement;
    if (failed.length || !statement)
      return {
        trust: "damaged",
        problems: failed.length
          ? failed.map((c) => `${where}: ${c.name}: ${c.detail}`)
          : [`${where} holds no statement`],
      };
    if (statement.predicateType !== predicateType)
      return {
        trust: "damaged",
        problems: [`${where} is a ${statement.predicateType} record, not ${predicateType}`],
      };
    const sig = report.checks.find((c) => c.name === "signature");
    if (!report.signed) return { trust: "unsigned", statement, problems: [`${where} is not signed`] };
    if (!sig?.ok)
      return {
        trust: "untrusted",
        statement,
        problems: [`${where}: ${sig?.detail ?? "the signature does not verify"}`],
      };
    const signer = report.keyId
      ? `key ${report.keyId}`
      : report.identity
        ? `${report.identity.subject} (${report.identity.issuer})`
        : undefined;
    return {
      trust: "verified",
      statement,
      ...(signer ? { signer } : {}),
      ...(report.payloadDigest ? { payloadDigest: report.payloadDigest } : {}),
      problems: [],
    };
  })();
  memo?.set(key, p);
  return p;
}

/** A promotion copy in a run folder, read and verified (facts only when it verified, for this run). */
async function promotionCopy(
  s: LedgerSnapshot,
  runId: string,
  name: string,
  trust: Trust,
  memo: Map<string, Promise<SignatureVerdict>>,
): Promise<PromotionCopy> {
  const where = s.describe(`runs/${runId}/${name}`);
  const doc = await readJsonRecord(() => s.readRunFile(runId, name));
  if (doc === undefined) return { name };
  const v = await checkSignature(doc, trust, PROMOTION_PREDICATE_TYPE, where, memo);
  const p = v.statement?.predicate as unknown as
    | { model?: unknown; runId?: unknown; seq?: unknown }
    | undefined;
  if (
    v.trust !== "verified" ||
    typeof p?.model !== "string" ||
    p.runId !== runId ||
    typeof p.seq !== "number" ||
    !v.payloadDigest
  )
    return { name };
  return { name, model: p.model, seq: p.seq, digest: v.payloadDigest };
}

/** The stored files the signed manifest covers, each checked against its signed digest. */
async function storedFileProblems(
  s: LedgerSnapshot,
  runId: string,
  m: RunManifest,
  statement: Statement,
  files: readonly string[],
): Promise<string[]> {
  const problems: string[] = [];
  const at = (name: string) => s.describe(`runs/${runId}/${name}`);
  const stored = await readFile(s, runId, "manifest.json", problems);
  if (stored) {
    const doc = parseJson(stored, at("manifest.json"), problems);
    if (doc !== undefined && canonicalDigest(doc) !== canonicalDigest(m))
      problems.push(`${at("manifest.json")} differs from the signed manifest (edited after signing)`);
  }
  const metricsSubject = statement.subject?.find((x) => x?.name === "track-run/metrics.json");
  const metrics = await readFile(s, runId, "metrics.json", problems);
  if (metricsSubject && !metrics) problems.push(`${at("metrics.json")} is missing`);
  else if (metrics && !metricsSubject)
    problems.push(`${at("metrics.json")} is not covered by the signed record`);
  else if (metrics && metricsSubject && sha256Hex(metrics) !== metricsSubject.digest?.sha256)
    problems.push(`${at("metrics.json")} does not match its signed digest (edited after signing)`);
  for (const d of m.data) {
    const name = `data-${d.name}.manifest-sha256.txt`;
    const body = await readFile(s, runId, name, problems);
    // A record made before payload manifests were signed: the stored copy is never read.
    if (d.payloadManifest === undefined) continue;
    if (!body) problems.push(`${at(name)} is missing`);
    else if (sha256Hex(body) !== d.payloadManifest)
      problems.push(`${at(name)} does not match its signed digest (edited after signing)`);
  }
  for (const f of files.filter((f) => /^data-.*\.manifest-sha256\.txt$/.test(f))) {
    if (!m.data.some((d) => `data-${d.name}.manifest-sha256.txt` === f))
      problems.push(`${at(f)} belongs to no data of the signed record`);
  }
  const log = await readFile(s, runId, "log.txt", problems);
  if (!log) {
    if (m.status.logDigest || m.status.logTailDigest) problems.push(`${at("log.txt")} is missing`);
  } else if (m.status.logDigest && sha256Hex(log) !== m.status.logDigest)
    problems.push(`${at("log.txt")} does not match its signed digest (edited after signing)`);
  else if (
    !m.status.logDigest &&
    m.status.logTailDigest &&
    sha256Hex(log.subarray(-LOG_TAIL_BYTES)) !== m.status.logTailDigest
  )
    problems.push(
      `${at("log.txt")}: its last 64 KiB do not match the signed tail digest (edited after signing)`,
    );
  return problems;
}

/** A run's signed reproduction record: which run it reproduces (by digest) and the verdict. */
async function reproductionClaim(
  s: LedgerSnapshot,
  runId: string,
  m: RunManifest,
  trust: Trust,
  memo: Map<string, Promise<SignatureVerdict>>,
): Promise<ReproductionClaim | undefined> {
  if (!m.links?.reproductionOf) return undefined;
  const where = s.describe(`runs/${runId}/reproduction.sigstore.json`);
  const problems: string[] = [];
  const base = { of: m.links.reproductionOf, ofManifestDigest: "", verdict: "" };
  const body = await readFile(s, runId, "reproduction.sigstore.json", problems);
  if (!body) return { ...base, trust: "damaged", problems: [...problems, `${where} is missing`] };
  const doc = parseJson(body, where, problems);
  if (doc === undefined) return { ...base, trust: "damaged", problems };
  const v = await checkSignature(doc, trust, REPRODUCTION_PREDICATE_TYPE, where, memo);
  const p = v.statement?.predicate as unknown as
    | {
        original?: { runId?: unknown; manifestDigest?: unknown };
        reproduction?: { runId?: unknown; manifestDigest?: unknown };
        verdict?: unknown;
      }
    | undefined;
  if (!p) return { ...base, trust: "damaged", problems: v.problems };
  const claimProblems = [...v.problems];
  if (p.reproduction?.runId !== runId || p.reproduction?.manifestDigest !== canonicalDigest(m))
    claimProblems.push(`${where} is not the reproduction record of run ${runId}`);
  if (p.original?.runId !== m.links.reproductionOf)
    claimProblems.push(`${where} names ${String(p.original?.runId)}, the manifest ${m.links.reproductionOf}`);
  if (typeof p.verdict !== "string") claimProblems.push(`${where} has no verdict`);
  const damaged = claimProblems.length > v.problems.length;
  return {
    trust: damaged ? "damaged" : v.trust,
    of: m.links.reproductionOf,
    ofManifestDigest: String(p.original?.manifestDigest ?? ""),
    verdict: String(p.verdict ?? ""),
    problems: claimProblems,
  };
}

/** Reads and verifies one run folder of the snapshot. */
export async function verifyRunRecord(
  s: LedgerSnapshot,
  runId: string,
  trust: Trust,
  memo: Map<string, Promise<SignatureVerdict>>,
): Promise<RunRecord> {
  // Whatever a planted file makes a step throw, the record is damaged: it never stops another run.
  try {
    return await checkRunRecord(s, runId, trust, memo);
  } catch (e) {
    const where = s.describe(`runs/${runId}`);
    return { runId, where, trust: "damaged", problems: [`${where} cannot be read: ${(e as Error).message}`] };
  }
}

async function checkRunRecord(
  s: LedgerSnapshot,
  runId: string,
  trust: Trust,
  memo: Map<string, Promise<SignatureVerdict>>,
): Promise<RunRecord> {
  const where = s.describe(`runs/${runId}`);
  let copies: PromotionCopy[] = [];
  const damaged = (problems: string[]): RunRecord => ({
    runId,
    where,
    trust: "damaged",
    problems,
    ...(copies.length ? { promotionCopies: copies } : {}),
  });
  const files = await s.listRunFiles(runId);
  if (!files) return damaged([`${where} is not a run folder`]);
  copies = await Promise.all(
    files.filter((f) => PROMOTION_COPY.test(f)).map((f) => promotionCopy(s, runId, f, trust, memo)),
  );
  const problems: string[] = [];
  const name = files.includes(BUNDLE) ? BUNDLE : files.includes(UNSIGNED) ? UNSIGNED : undefined;
  if (!name) return damaged([`${where} holds no signed record (${BUNDLE} or ${UNSIGNED})`]);
  const body = await readFile(s, runId, name, problems);
  if (!body)
    return damaged(problems.length ? problems : [`${s.describe(`runs/${runId}/${name}`)} is missing`]);
  const doc = parseJson(body, s.describe(`runs/${runId}/${name}`), problems);
  if (doc === undefined) return damaged(problems);
  const v = await checkSignature(
    doc,
    trust,
    MANIFEST_PREDICATE_TYPE,
    s.describe(`runs/${runId}/${name}`),
    memo,
  );
  if (v.trust === "damaged" || !v.statement) return damaged(v.problems);
  const manifest = v.statement.predicate;
  if (manifest.runId !== runId)
    return damaged([`${where} holds the signed record of run ${manifest.runId}, not of ${runId}`]);
  problems.push(...(await storedFileProblems(s, runId, manifest, v.statement, files)));
  const reproduction = await reproductionClaim(s, runId, manifest, trust, memo);
  const record: RunRecord = {
    runId,
    where,
    trust: problems.length ? "damaged" : v.trust,
    manifest,
    manifestDigest: canonicalDigest(manifest),
    ...(v.signer ? { signer: v.signer } : {}),
    problems: [...v.problems, ...problems],
    ...(reproduction ? { reproduction } : {}),
    document: doc,
    ...(copies.length ? { promotionCopies: copies } : {}),
  };
  return record;
}
