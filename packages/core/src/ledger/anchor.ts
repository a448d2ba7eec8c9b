// Production checked against what is known outside the chain it is read from: the signed copies of
// promotion records kept beside each promoted run, and the highest promotion this machine has seen
// verified (an anchor in the local cache, beside the index). A chain cut short, rewound or deleted
// whole is then an error naming the evidence, never an older or no production.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { dirname } from "node:path";
import { CheckFailedError } from "../errors.js";
import type { ProductionChain } from "./chain.js";
import type { RunRecord } from "./records.js";
import type { LedgerSnapshot } from "./types.js";

function rewound(s: LedgerSnapshot, model: string, why: string): CheckFailedError {
  return new CheckFailedError(
    "broken-promotion-chain",
    `${s.describe(`models/${model}/promotions`)}: ${why}; production of ${model} cannot be trusted until the ledger is restored from its history`,
  );
}

/** The chain against the signed promotion copies found in run folders. */
export function checkPromotionCopies(
  s: LedgerSnapshot,
  model: string,
  chain: ProductionChain,
  runs: readonly Pick<RunRecord, "runId" | "promotionCopies">[],
): void {
  const head = chain.head?.pointer.seq ?? 0;
  for (const r of runs) {
    // Each copy as its run's record verified it (records.ts): only a verified copy of this model counts.
    for (const c of r.promotionCopies ?? []) {
      if (c.model !== model || c.seq === undefined) continue;
      const where = s.describe(`runs/${r.runId}/${c.name}`);
      if (c.seq > head)
        throw rewound(
          s,
          model,
          `${where} is a signed copy of promotion #${c.seq}, but the history ${head ? `ends at #${head}` : "is empty"}: records were deleted`,
        );
      if (chain.promotions[c.seq - 1]?.recordDigest !== c.digest)
        throw rewound(
          s,
          model,
          `${where} is a signed promotion #${c.seq} that differs from the history's #${c.seq}`,
        );
    }
  }
}

interface Anchors {
  models: Record<string, { seq: number; recordDigest: string }>;
  /** Names of counting invalidation records this machine saw verified. */
  invalidations?: string[];
}

/** The anchors of one ledger on this machine: a JSON file beside its index. */
export class ProductionAnchors {
  constructor(readonly path: string) {}

  private read(): Anchors {
    try {
      const doc = JSON.parse(fs.readFileSync(this.path, "utf8")) as Anchors;
      return doc && typeof doc.models === "object" && doc.models ? doc : { models: {} };
    } catch {
      return { models: {} };
    }
  }

  /** What to do when the ledger was removed or replaced on purpose (a fresh start), not by an attacker. */
  private resetHint(): string {
    return ` (if you removed or replaced this ledger on purpose, delete ${this.path} to start its history anew)`;
  }

  /** Refuses a ledger that lost a counting invalidation record this machine saw; then remembers the new ones. */
  checkInvalidations(s: LedgerSnapshot, counting: readonly string[]): void {
    const anchors = this.read();
    const seen = anchors.invalidations ?? [];
    const now = new Set(counting);
    const gone = seen.filter((n) => !now.has(n));
    if (gone.length)
      throw new CheckFailedError(
        "invalidation-deleted",
        `${s.describe("invalidations")}: ${gone.map((n) => `invalidations/${n}`).join(", ")}, signed and verified when this machine read the ledger (${this.path}), ${gone.length === 1 ? "is" : "are"} gone; restore the ledger from its history${this.resetHint()}`,
      );
    const added = counting.filter((n) => !seen.includes(n));
    if (added.length) this.write({ ...anchors, invalidations: [...seen, ...added].sort() });
  }

  private write(anchors: Anchors): void {
    try {
      fs.mkdirSync(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
      fs.writeFileSync(tmp, `${JSON.stringify(anchors, null, 2)}\n`, { flag: "wx" });
      fs.renameSync(tmp, this.path);
    } catch {
      // A read-only cache only loses the anchor, never the check of the records themselves.
    }
  }

  /** Refuses a chain shorter than the one this machine saw, or different at its head; then raises the anchor. */
  check(s: LedgerSnapshot, model: string, chain: ProductionChain): void {
    const anchors = this.read();
    // Own entries only: a model may be called "constructor" or "toString".
    const seen = Object.hasOwn(anchors.models, model) ? anchors.models[model] : undefined;
    if (seen) {
      const at = chain.promotions[seen.seq - 1];
      if (!at)
        throw rewound(
          s,
          model,
          `this machine saw promotion #${seen.seq} verified (${this.path}), but the history ${chain.head ? `ends at #${chain.head.pointer.seq}` : "is empty"}: records were deleted${this.resetHint()}`,
        );
      if (at.recordDigest !== seen.recordDigest)
        throw rewound(
          s,
          model,
          `promotion #${seen.seq} differs from the one this machine saw verified (${this.path})${this.resetHint()}`,
        );
    }
    const head = chain.head;
    if (head && head.pointer.seq > (seen?.seq ?? 0)) {
      anchors.models[model] = { seq: head.pointer.seq, recordDigest: head.recordDigest };
      this.write(anchors);
    }
  }
}
