// Reports as compare makes them: the spam-filter example's comment (its policy, a production run of
// three epochs, a one-epoch candidate) and a longer story (five promotions, a three-seed candidate).
import { join } from "node:path";
import type { Policy, RunManifest } from "../../src/__generated__/index.js";
import { diffRuns } from "../../src/ledger/diff.js";
import { evaluateGate } from "../../src/policy/index.js";
import type { HistoryPoint, ReportInput } from "../../src/report/index.js";
import { readPolicyFile } from "../../src/schema/index.js";
import { sampleManifest } from "../sign/fixtures.js";

const root = join(import.meta.dirname, "..", "..", "..", "..");

/** The example's gate, as examples/spam-filter/policy.yml writes it. */
export const examplePolicy: Policy = readPolicyFile(
  join(root, "examples", "spam-filter", "policy.yml"),
  true,
)!;

const ok = { signed: true, dataValid: true, reproductions: 0 };

export function spamRun(
  runId: string,
  metrics: { accuracy: number; f1: number; loss: number },
  over: { seed?: number; epochs?: number; commit?: string } = {},
): RunManifest {
  const m = sampleManifest([{ path: "model.json", sha256: "1".repeat(64), size: 1 }]);
  return {
    ...m,
    runId,
    model: "spam-filter",
    code: { ...m.code, commit: over.commit ?? "a".repeat(40) },
    invocation: {
      ...m.invocation,
      command: ["python3", "examples/spam-filter/train.py"],
      params: { epochs: over.epochs ?? 3, learning_rate: 0.2, hash_bits: 18, l2: 1e-6 },
      seed: over.seed ?? 7,
    },
    metrics: {
      final: [
        { name: "accuracy", value: metrics.accuracy, stage: "test" },
        { name: "f1", value: metrics.f1, stage: "test" },
        { name: "loss", value: metrics.loss, stage: "test" },
      ],
    },
  };
}

/** History as compareWithProduction gives it: `#seq runId` per promotion, then "candidate" (the mean). */
function history(
  promoted: readonly RunManifest[],
  candidateMeans: Record<string, number>,
): Record<string, HistoryPoint[]> {
  const out: Record<string, HistoryPoint[]> = {};
  for (const key of Object.keys(examplePolicy.metrics ?? {})) {
    const name = key.slice(key.indexOf("/") + 1);
    out[key] = [
      ...promoted.map((m, i) => ({
        label: `#${i + 1} ${m.runId.slice(0, 15)}`,
        value: m.metrics.final.find((x) => x.name === name)!.value,
      })),
      { label: "candidate", value: candidateMeans[key]! },
    ];
  }
  return out;
}

/** The example's comment: production is the first model (three epochs), the candidate trains one epoch. */
export function exampleReport(): ReportInput {
  const production = spamRun("20261130-085235-1a2b3c", { accuracy: 0.9785, f1: 0.9671, loss: 0.0712 });
  const candidate = spamRun(
    "20261130-091012-4d5e6f",
    { accuracy: 0.975762, f1: 0.962338, loss: 0.0893 },
    { epochs: 1, commit: "b".repeat(40) },
  );
  const verdict = evaluateGate(examplePolicy, [{ manifest: candidate, provenance: ok }], [production]);
  const diff = diffRuns(production, candidate, { changedFiles: () => ["examples/spam-filter/params.json"] });
  const means = Object.fromEntries(verdict.metrics.map((m) => [m.name, m.candidate.mean]));
  return { verdict, diff, history: history([production], means) };
}

/** Five promotions, then a seed matrix of three runs at one commit. */
export function seedMatrixReport(): ReportInput {
  const promoted = [
    spamRun("20261101-101500-000001", { accuracy: 0.9612, f1: 0.9401, loss: 0.1102 }, { seed: 10 }),
    spamRun("20261108-101500-000002", { accuracy: 0.9668, f1: 0.9493, loss: 0.0981 }, { seed: 10 }),
    spamRun("20261115-101500-000003", { accuracy: 0.9701, f1: 0.9552, loss: 0.0894 }, { seed: 10 }),
    spamRun("20261122-101500-000004", { accuracy: 0.9744, f1: 0.9613, loss: 0.0803 }, { seed: 10 }),
    spamRun("20261129-101500-000005", { accuracy: 0.9785, f1: 0.9671, loss: 0.0712 }, { seed: 10 }),
  ];
  const commit = "c".repeat(40);
  const seeds = [1, 2, 3];
  const candidates = [
    spamRun("20261201-120000-0000a1", { accuracy: 0.9801, f1: 0.9702, loss: 0.0688 }, { seed: 1, commit }),
    spamRun("20261201-120000-0000a2", { accuracy: 0.9772, f1: 0.9654, loss: 0.0731 }, { seed: 2, commit }),
    spamRun("20261201-120000-0000a3", { accuracy: 0.9826, f1: 0.9735, loss: 0.0642 }, { seed: 3, commit }),
  ];
  const production = promoted[promoted.length - 1]!;
  const verdict = evaluateGate(
    examplePolicy,
    candidates.map((manifest) => ({ manifest, provenance: ok })),
    [production],
  );
  const diff = diffRuns(production, candidates[0]!, { changedFiles: () => ["train.py"] });
  const means = Object.fromEntries(verdict.metrics.map((m) => [m.name, m.candidate.mean]));
  return { verdict, diff, history: history(promoted, means), candidateSeeds: seeds };
}

/** A long history (twelve promotions) with a single-run candidate: the chart keeps the latest ten. */
export function longHistoryReport(): ReportInput {
  const promoted = Array.from({ length: 12 }, (_, i) =>
    spamRun(`202611${String(i + 10).padStart(2, "0")}-101500-0000${String(i).padStart(2, "0")}`, {
      accuracy: 0.95 + i * 0.0025,
      f1: 0.93 + i * 0.003,
      loss: 0.13 - i * 0.005,
    }),
  );
  const production = promoted[promoted.length - 1]!;
  const candidate = spamRun("20261201-120000-0000b1", { accuracy: 0.9801, f1: 0.9702, loss: 0.0688 });
  const verdict = evaluateGate(examplePolicy, [{ manifest: candidate, provenance: ok }], [production]);
  const means = Object.fromEntries(verdict.metrics.map((m) => [m.name, m.candidate.mean]));
  return { verdict, history: history(promoted, means) };
}
