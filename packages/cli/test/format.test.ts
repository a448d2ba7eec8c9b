// `show` as text: every fact a reader looks for in a recorded run, and why a failed one failed.
import type { RunManifest } from "@track-run/core";
import { describe, expect, it } from "vitest";
import { byteSize, duration, LOG_TAIL_LINES, logTail, runDetails } from "../src/commands/format.js";

const manifest: RunManifest = {
  schemaVersion: "1",
  runId: "20261130-085235-1a2b3c",
  model: "spam-filter",
  code: { kind: "git", commit: "a".repeat(40) },
  data: [{ name: "corpus", digest: `sha256:${"c".repeat(64)}`, payloadOxum: "10.1", files: 1, bytes: 10 }],
  environment: { runtime: "host" },
  invocation: {
    command: ["python3", "examples/spam-filter/train.py", "--note", "two words"],
    params: { epochs: 3, learning_rate: 0.2, optimizer: { name: "sgd", momentum: 0.9 } },
    seed: 7,
  },
  outputs: [{ path: "model.json", sha256: "1".repeat(64), size: 1536 }],
  metrics: { final: [{ name: "accuracy", value: 0.9785, stage: "test" }] },
  status: { state: "succeeded", exitCode: 0 },
  timing: {
    startedAt: "2026-11-30T08:52:35.000Z",
    finishedAt: "2026-11-30T08:57:38.000Z",
    wallSeconds: 303,
    cpuSeconds: 41.5,
    peakMemoryBytes: 268435456,
  },
} as RunManifest;

describe("show's run details", () => {
  it("name params, seed, outputs and timing besides code, data, image and metrics", () => {
    const text = runDetails(manifest).join("\n");
    expect(text).toContain(`code     ${"a".repeat(40)}`);
    expect(text).toContain(`data     corpus sha256:${"c".repeat(64)}`);
    expect(text).toContain("image    host");
    expect(text).toContain("command  python3 examples/spam-filter/train.py --note 'two words'");
    expect(text).toContain('params   epochs=3 learning_rate=0.2 optimizer.name="sgd" optimizer.momentum=0.9');
    expect(text).toContain("seed     7");
    expect(text).toContain(`output   model.json  sha256:${"1".repeat(64)}  1.5 KiB`);
    expect(text).toContain("metric   test/accuracy = 0.9785");
    expect(text).toContain(
      "timing   2026-11-30T08:52:35.000Z → 2026-11-30T08:57:38.000Z (5 min 3 s wall, 41.5 s CPU, peak memory 256 MiB)",
    );
    // A run that succeeded needs no log.
    expect(text).not.toContain("log.txt");
  });

  it("end a failed run with the end of its log, which says why", () => {
    const failed = {
      ...manifest,
      status: { state: "failed", reason: "the command exited with code 1", exitCode: 1 },
    } as RunManifest;
    const log = [
      ...Array.from({ length: 40 }, (_, i) => `epoch ${i}`),
      "Traceback (most recent call last):",
      "ValueError: hash_bits must be at most 24",
      "",
      "",
    ].join("\n");
    const lines = runDetails(failed, log);
    expect(lines).toContain("exit     1");
    expect(lines).toContain(`log      the last ${LOG_TAIL_LINES} lines of log.txt:`);
    expect(lines.at(-1)).toBe("  | ValueError: hash_bits must be at most 24");
    expect(lines.filter((l) => l.startsWith("  | "))).toHaveLength(LOG_TAIL_LINES);
    expect(runDetails(failed).at(-1)).toBe("log      not in the ledger");
  });

  it("say so when a run has no params, seed or outputs", () => {
    const bare = {
      ...manifest,
      invocation: { command: ["make"] },
      outputs: [],
    } as unknown as RunManifest;
    const text = runDetails(bare).join("\n");
    expect(text).toContain("params   none");
    expect(text).toContain("seed     none");
    expect(text).toContain("outputs  none");
  });
});

describe("numbers in text", () => {
  it("reads durations, sizes and log tails as people do", () => {
    expect(duration(42)).toBe("42 s");
    expect(duration(0.25)).toBe("0.25 s");
    expect(duration(7384)).toBe("2 h 3 min");
    expect(byteSize(512)).toBe("512 B");
    expect(byteSize(2.25 * 1024 ** 3)).toBe("2.25 GiB");
    expect(logTail("a\r\nb\nc\n\n", 2)).toEqual(["b", "c"]);
  });
});
