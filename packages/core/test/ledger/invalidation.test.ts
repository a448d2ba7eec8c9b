// What stands of the invalidation records, and what is marked: pure functions over verified records.
import { describe, expect, it } from "vitest";
import { buildLineage } from "../../src/ledger/graph.js";
import {
  describeMarks,
  type InvalidationRecord,
  markDerived,
  standingInvalidations,
} from "../../src/ledger/invalidation.js";

function record(
  name: string,
  action: "invalidate" | "revalidate",
  at: string,
  nodes: string[],
  trust: InvalidationRecord["trust"] = "verified",
): InvalidationRecord {
  return {
    name,
    path: `invalidations/${name}`,
    where: `ledger/invalidations/${name}`,
    trust,
    counts: trust === "verified",
    predicate: { action, target: { ref: nodes[0]!, nodes }, reason: `${action} ${name}`, at, by: {} },
    problems: [],
  };
}

const A = `data:sha256:${"a".repeat(64)}`;
const B = `data:sha256:${"b".repeat(64)}`;

describe("standing invalidations", () => {
  it("the latest counting record per node wins, by time then name", () => {
    const s = standingInvalidations([
      record("3.json", "revalidate", "2026-01-02T00:00:00Z", [A]),
      record("1.json", "invalidate", "2026-01-01T00:00:00Z", [A, B]),
      // Same time: the later name wins.
      record("5.json", "revalidate", "2026-01-03T00:00:00Z", [B]),
      record("6.json", "invalidate", "2026-01-03T00:00:00Z", [B]),
    ]);
    expect([...s.keys()]).toEqual([B]);
    expect(s.get(B)?.name).toBe("6.json");
  });

  it("unsigned, untrusted and damaged records change nothing, however late", () => {
    const s = standingInvalidations([
      record("1.json", "invalidate", "2026-01-01T00:00:00Z", [A]),
      record("2.json", "revalidate", "2030-01-01T00:00:00Z", [A], "untrusted"),
      record("3.json", "revalidate", "2030-01-01T00:00:00Z", [A], "unsigned"),
      record("4.json", "invalidate", "2030-01-01T00:00:00Z", [B], "untrusted"),
    ]);
    expect([...s.keys()]).toEqual([A]);
  });

  it("marks the node itself and what derives from it, naming the input as the record named it", () => {
    const s = standingInvalidations([record("1.json", "invalidate", "2026-01-01T00:00:00Z", [A])]);
    const run = {
      runId: "r1",
      where: "x",
      trust: "verified" as const,
      problems: [],
      manifest: {
        runId: "r1",
        model: "m",
        data: [{ name: "raw", digest: `sha256:${"a".repeat(64)}` }],
        outputs: [{ path: "model.bin", sha256: "c".repeat(64), size: 1 }],
        links: {},
      },
    };
    const g = buildLineage([run as never], new Map());
    const marks = markDerived(g, s);
    expect([...marks.keys()].sort()).toEqual([A, `file:${"c".repeat(64)}`, "run:r1"].sort());
    expect(describeMarks(marks.get("run:r1"))).toEqual([
      `${A} (invalidated by invalidations/1.json: invalidate 1.json)`,
    ]);
  });
});
