// Production from a verified chain: every promotion record of a model is signed by the trust
// policy and names the digest of the record before it; production is the head of the chain checked
// back to the first. production.json is a cache that must agree with the head; a killed writer's
// interrupted promotion (the record linked, the cache not yet written) is recognised by its pending
// file and is not an error.
import { CheckFailedError } from "../errors.js";
import { PROMOTION_PREDICATE_TYPE } from "../sign/statement.js";
import { checkSignature, nestsDeeper, type SignatureVerdict, sha256Hex, type Trust } from "./records.js";
import { type LedgerSnapshot, PROMOTION_FILE, type ProductionPointer, promotionFileName } from "./types.js";

export interface Promotion {
  pointer: ProductionPointer;
  /** "sha256:…" of the record's signed statement: what the next record names. */
  recordDigest: string;
  signer?: string;
}

export interface ProductionChain {
  model: string;
  /** Oldest first. */
  promotions: Promotion[];
  head?: Promotion;
  /** production.json disagrees with the head because a promotion was killed after its commit point. */
  interrupted: boolean;
  /** Leftovers of killed writers (pending records that never reached their commit point). */
  leftovers: string[];
}

function broken(s: LedgerSnapshot, model: string, path: string, why: string): CheckFailedError {
  return new CheckFailedError(
    "broken-promotion-chain",
    `${s.describe(`models/${model}/${path}`)}: ${why}; production of ${model} cannot be trusted until the ledger is restored from its history`,
  );
}

const samePointer = (a: ProductionPointer, b: unknown): boolean => {
  const x = b as Partial<ProductionPointer> | undefined;
  return (
    x?.model === a.model &&
    x?.runId === a.runId &&
    x?.seq === a.seq &&
    x?.manifestDigest === a.manifestDigest &&
    x?.kind === a.kind
  );
};

function pointerProblems(p: Partial<ProductionPointer>, model: string, seq: number): string[] {
  const out: string[] = [];
  if (p.model !== model) out.push(`it is a record of model ${String(p.model)}, not ${model}`);
  if (p.seq !== seq) out.push(`it says #${String(p.seq)} under the name of #${seq}`);
  if (typeof p.runId !== "string") out.push("it names no run");
  if (p.kind !== "promotion" && p.kind !== "rollback") out.push("its kind is neither promotion nor rollback");
  return out;
}

/** The verified promotion history of a model; throws (exit 1, naming the file) when it is broken. */
export async function verifyChain(
  s: LedgerSnapshot,
  model: string,
  trust: Trust,
  memo: Map<string, Promise<SignatureVerdict>>,
): Promise<ProductionChain> {
  let names: string[];
  try {
    names = await s.listPromotionFiles(model);
  } catch (e) {
    throw broken(s, model, "promotions", (e as Error).message);
  }
  const numbered = names
    .map((n) => ({ n, m: PROMOTION_FILE.exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => Boolean(x.m))
    .map((x) => ({ name: x.n, seq: Number(x.m[1]) }))
    .sort((a, b) => a.seq - b.seq);
  const pending = names.filter((n) => n.startsWith(".") && n.endsWith(".pending"));
  const promotions: Promotion[] = [];
  for (const [i, f] of numbered.entries()) {
    const path = `promotions/${f.name}`;
    if (f.seq !== i + 1)
      throw broken(s, model, path, `promotion #${i + 1} is missing (the records jump to #${f.seq})`);
    let body: Buffer | undefined;
    try {
      body = await s.readModelFile(model, path);
    } catch (e) {
      throw broken(s, model, path, (e as Error).message);
    }
    if (!body) throw broken(s, model, path, "the record cannot be read");
    let doc: unknown;
    try {
      const text = body.toString("utf8");
      if (nestsDeeper(text)) throw new Error("nested too deeply");
      doc = JSON.parse(text);
    } catch {
      throw broken(s, model, path, "the record is not JSON");
    }
    const v = await checkSignature(
      doc,
      trust,
      PROMOTION_PREDICATE_TYPE,
      s.describe(`models/${model}/${path}`),
      memo,
    );
    if (v.trust !== "verified" || !v.statement)
      throw broken(
        s,
        model,
        path,
        `the record is ${v.trust === "damaged" ? "damaged" : `not verified (${v.trust})`}: ${v.problems.join("; ")}`,
      );
    const pointer = v.statement.predicate as unknown as ProductionPointer;
    const problems = pointerProblems(pointer, model, f.seq);
    const before = promotions[i - 1];
    const expected = before ? before.recordDigest : null;
    if ((pointer.previousRecord ?? null) !== expected)
      problems.push(
        before
          ? `it does not name promotion #${before.pointer.seq} before it (the chain is broken)`
          : "the first promotion names a record before it",
      );
    const prev = pointer.previous;
    if (
      before &&
      (prev?.runId !== before.pointer.runId || prev?.manifestDigest !== before.pointer.manifestDigest)
    )
      problems.push(`its previous production is not what #${before.pointer.seq} put there`);
    if (problems.length) throw broken(s, model, path, problems.join("; "));
    promotions.push({
      pointer,
      recordDigest: v.payloadDigest!,
      ...(v.signer ? { signer: v.signer } : {}),
    });
  }
  const head = promotions.at(-1);
  // production.json must agree with the head (or lag it by one interrupted promotion).
  let cache: unknown;
  let cacheRead = true;
  try {
    const body = await s.readModelFile(model, "production.json");
    cache = body === undefined ? undefined : JSON.parse(body.toString("utf8"));
  } catch {
    cacheRead = false;
  }
  // A pending record equal to the head: its writer was killed after the commit point.
  let interrupted = false;
  const headBody = head
    ? await s.readModelFile(model, `promotions/${promotionFileName(head.pointer.seq)}`).catch(() => undefined)
    : undefined;
  for (const p of pending) {
    const body = await s.readModelFile(model, `promotions/${p}`).catch(() => undefined);
    if (body && headBody && sha256Hex(body) === sha256Hex(headBody)) interrupted = true;
  }
  // Every pending name is a leftover to sweep once its writer is gone (a live writer's is kept).
  const leftovers = pending;
  const agrees = head ? cacheRead && samePointer(head.pointer, cache) : cacheRead && cache === undefined;
  if (!agrees) {
    const before = promotions.at(-2);
    const lagsByOne = cacheRead && (before ? samePointer(before.pointer, cache) : cache === undefined);
    if (!(interrupted && lagsByOne)) {
      const what = !cacheRead
        ? "is damaged (not JSON)"
        : cache === undefined
          ? `is missing while the signed history has ${promotions.length} promotion(s)`
          : head
            ? `names run ${String((cache as ProductionPointer).runId)} (#${String((cache as ProductionPointer).seq)}), but the signed history's head is ${head.pointer.runId} (#${head.pointer.seq})`
            : "names a production run, but the model has no signed promotion record";
      throw broken(s, model, "production.json", `production.json ${what}`);
    }
  } else interrupted = false;
  return { model, promotions, ...(head ? { head } : {}), interrupted, leftovers };
}
