// Which promotion a deploy job compares with, and the digests it accepts.
import { describe, expect, it } from "vitest";
import { TrackRunError } from "../../src/errors.js";
import type { ProductionChain, Promotion } from "../../src/ledger/chain.js";
import { deployedPromotion, parseDigest } from "../../src/ledger/deployable.js";

const promotion = (
  seq: number,
  runId: string,
  environment?: string,
  kind: "promotion" | "rollback" = "promotion",
): Promotion => ({
  pointer: {
    model: "spam",
    runId,
    manifestDigest: `sha256:${runId}`,
    seq,
    kind,
    promotedAt: `2026-01-0${seq}T00:00:00.000Z`,
    promotedBy: environment ? { environment } : {},
    previous: null,
  },
  recordDigest: `sha256:r${seq}`,
});

const chain = (...promotions: Promotion[]): ProductionChain => ({
  model: "spam",
  promotions,
  ...(promotions.length ? { head: promotions.at(-1)! } : {}),
  interrupted: false,
  leftovers: [],
});

describe("deployedPromotion", () => {
  const c = chain(promotion(1, "a", "production"), promotion(2, "b", "staging"), promotion(3, "c"));

  it("is the head of the chain without an environment", () => {
    expect(deployedPromotion(c)?.pointer.runId).toBe("c");
  });

  it("is the newest promotion recorded with the environment, whatever came after elsewhere", () => {
    expect(deployedPromotion(c, "production")?.pointer.runId).toBe("a");
    expect(deployedPromotion(c, "staging")?.pointer.runId).toBe("b");
    expect(deployedPromotion(c, "canary")).toBeUndefined();
    expect(deployedPromotion(chain())).toBeUndefined();
  });

  it("counts a rollback recorded in the environment", () => {
    const r = chain(
      promotion(1, "a", "production"),
      promotion(2, "b", "production"),
      promotion(3, "a", "production", "rollback"),
    );
    expect(deployedPromotion(r, "production")?.pointer).toMatchObject({
      runId: "a",
      seq: 3,
      kind: "rollback",
    });
  });
});

describe("parseDigest", () => {
  const hex = "AB".repeat(32);
  it("takes hex or sha256:hex, any case", () => {
    expect(parseDigest(hex)).toBe(`sha256:${hex.toLowerCase()}`);
    expect(parseDigest(`sha256:${hex}`)).toBe(`sha256:${hex.toLowerCase()}`);
  });
  it("refuses anything else as bad input, naming it", () => {
    for (const bad of ["sha256:abc", `sha512:${hex}`, `${hex}0`, ""]) {
      let e: unknown;
      try {
        parseDigest(bad, "input digest");
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(TrackRunError);
      expect((e as TrackRunError).exitCode).toBe(2);
      expect((e as Error).message).toMatch(/^input digest: .* is not a sha256 digest/);
    }
  });
});
