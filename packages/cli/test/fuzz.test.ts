// The fuzz tier: property tests over every file and argument the CLI takes (track-run.yml,
// policies, trust files, bundles, manifests, tars, bag tag files, names and flags). Each case runs
// the built CLI and asserts what a user relies on: exit 0, 1 or 2, never a stack trace, never a
// hang, nothing written outside the folders named. A fixed seed and bounded runs keep it inside
// `npm test`; a failure prints the seed and the case to replay.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { type CliResult, cli, crashSigns, listing, type SignedRun, signedRun } from "./bad-input-fixtures.js";

/** Fixed, so every `npm test` runs the same cases; TRACK_RUN_FUZZ_SEED explores others. */
const SEED = Number(process.env.TRACK_RUN_FUZZ_SEED ?? 20261130);
/** Runs per property: small, since each case starts the CLI (about 0.1 s). */
const RUNS = Number(process.env.TRACK_RUN_FUZZ_RUNS ?? 10);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values that have broken readers before: wrong types, empty, huge, paths, special files. */
const nasty = fc.oneof(
  fc.constantFrom<Json>(
    null,
    "",
    -1,
    0,
    1e308,
    -0.5,
    true,
    "x",
    [],
    {},
    [null],
    "../../../../etc/passwd",
    "/dev/zero",
    "/proc/self/status",
    "a".repeat(300),
    "sha256:",
    "\u0000",
    "line\nbreak",
  ),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** Every path (keys and indexes) in a JSON document. */
function pathsOf(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) for (const [i, x] of v.entries()) out.push(...pathsOf(x, [...prefix, i]));
  else if (v && typeof v === "object")
    for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]));
  return out;
}

/** `doc` with the value at one of its paths replaced (or the key removed, for `undefined`). */
function mutate(doc: Json, pick: number, value: Json | undefined): Json {
  const copy = structuredClone(doc);
  const paths = pathsOf(copy);
  const path = paths[pick % paths.length]!;
  if (path.length === 0) return value === undefined ? {} : value;
  let parent = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (value === undefined && !Array.isArray(parent)) delete parent[last];
  else parent[last] = value ?? null;
  return copy;
}

/** Up to three mutations of `doc`. */
const mutationsOf = (doc: Json) =>
  fc
    .array(fc.tuple(fc.nat(), fc.option(nasty, { nil: undefined })), { minLength: 1, maxLength: 3 })
    .map((ms) => ms.reduce<Json>((d, [pick, value]) => mutate(d, pick, value), doc));

/** A document as a user might write it: JSON, YAML, or text that is neither. */
const asText = (doc: fc.Arbitrary<Json>) =>
  fc.oneof(
    doc.map((d) => JSON.stringify(d)),
    doc.map((d) => toYaml(d)),
    fc.string({ maxLength: 200 }),
    doc.map((d) => JSON.stringify(d).slice(0, 40)),
  );

describe("fuzz: every input file and argument ends in exit 0, 1 or 2, no trace, nothing written outside", () => {
  let run: SignedRun;
  let base: string;
  let work: string;
  let sentinel: string;
  let sentinelListing: string[];
  let baseListing: string[];
  let rootListing: string[];
  let tar: Buffer;
  let n = 0;
  const env = () => ({
    HOME: join(work, "home"),
    XDG_CACHE_HOME: join(work, "cache"),
    TRACK_RUN_CACHE: join(work, "cache/track-run"),
    TRACK_RUN_LEDGER: `dir:${join(run.dir, ".track-run/ledger")}`,
    DOCKER_HOST: "unix:///nonexistent/docker.sock",
    GIT_CONFIG_NOSYSTEM: "1",
  });

  /** A new file under work/ holding `text`. */
  function file(name: string, text: string | Buffer): string {
    const p = join(work, `${++n}-${name}`);
    writeFileSync(p, text);
    return p;
  }

  /** Runs the CLI in the project and asserts the contract; returns the result. */
  function check(args: readonly string[], cwd = run.dir): CliResult {
    const r = cli(args, { cwd, env: env(), timeoutMs: 20_000 });
    const what = `track-run ${args.map((a) => JSON.stringify(a)).join(" ")}\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`;
    expect(r.signal, `hang: ${what}`).toBeNull();
    expect([0, 1, 2], `exit ${r.code}: ${what}`).toContain(r.code);
    expect(crashSigns(r.stdout + r.stderr), what).toBeUndefined();
    return r;
  }

  beforeAll(() => {
    run = signedRun();
    base = mkdtempSync(join(tmpdir(), "track-run-fuzz-"));
    work = join(base, "work");
    sentinel = join(base, "sentinel");
    mkdirSync(join(work, "home"), { recursive: true });
    mkdirSync(sentinel);
    writeFileSync(join(sentinel, "keep.txt"), "untouched\n");
    spawnSync("mkfifo", [join(work, "fifo")]);
    const t = cli(["bag", "tar", run.bag, join(work, "good.tar")]);
    if (t.code !== 0) throw new Error(t.stderr);
    tar = readFileSync(join(work, "good.tar"));
    sentinelListing = listing(sentinel);
    baseListing = listing(base);
    rootListing = listing("/");
  });

  afterAll(() => {
    // Nothing appeared beside the work folder, in the sentinel, or in /.
    expect(listing(sentinel)).toEqual(sentinelListing);
    expect(listing(base)).toEqual(baseListing);
    expect(listing("/")).toEqual(rootListing);
    rmSync(base, { recursive: true, force: true });
    rmSync(run.dir, { recursive: true, force: true });
  });

  const params = (numRuns = RUNS) => ({ seed: SEED, numRuns, endOnFailure: true });

  it("track-run.yml", () => {
    const valid: Json = {
      model: "spam",
      runtime: "host",
      command: ["true"],
      data: { rows: "data" },
      seed: 1,
      timeout: 30,
      metrics: "metrics.json",
      env: ["PATH"],
    };
    fc.assert(
      fc.property(asText(mutationsOf(valid)), (text) => {
        const cfg = file("track-run.yml", text);
        check(["run", "--config", cfg, "--outputs", join(work, `out-${n}`), "--unsigned"]);
      }),
      params(),
    );
  });

  it("policies", () => {
    const valid: Json = {
      model: "spam",
      metrics: { accuracy: { direction: "higher", min: 0.8, max_regression: 0.01 } },
      provenance: { signed: true, clean_tree: true, data_valid: true },
    };
    fc.assert(
      fc.property(asText(mutationsOf(valid)), (text) => {
        check(["compare", run.runId, "--policy", file("policy.yml", text)]);
      }),
      params(),
    );
  });

  it("trust files", () => {
    const trust = JSON.parse(readFileSync(join(run.dir, ".track-run/trust.json"), "utf8")) as Json;
    fc.assert(
      fc.property(asText(mutationsOf(trust)), (text) => {
        // Beside the project's keys/ folder, so that a relative key path resolves as it would.
        const t = join(run.dir, ".track-run", `fuzz-trust-${++n}.json`);
        writeFileSync(t, text);
        check(["verify", run.bundle, "--trust", t]);
      }),
      params(),
    );
  });

  it("bundles: the envelope and the statement inside it", () => {
    const bundle = JSON.parse(readFileSync(run.bundle, "utf8")) as {
      dsseEnvelope: { payload: string; [k: string]: Json };
      [k: string]: Json;
    };
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8")) as Json;
    const withStatement = mutationsOf(statement).map((s) => ({
      ...bundle,
      dsseEnvelope: { ...bundle.dsseEnvelope, payload: Buffer.from(JSON.stringify(s)).toString("base64") },
    }));
    const doc = fc.oneof(mutationsOf(bundle as unknown as Json), withStatement as fc.Arbitrary<Json>);
    const outputs = join(work, "outputs");
    mkdirSync(outputs, { recursive: true });
    fc.assert(
      fc.property(asText(doc), (text) => {
        const f = file("bundle.sigstore.json", text);
        check(["verify", f, "--trust", join(run.dir, ".track-run/trust.json"), "--outputs", outputs]);
        check(["export", "slsa", f]);
      }),
      params(),
    );
  });

  it("manifests", () => {
    const manifest = JSON.parse(readFileSync(run.manifest, "utf8")) as Json;
    fc.assert(
      fc.property(
        asText(mutationsOf(manifest)),
        fc.constantFrom("slsa", "prov", "ro-crate"),
        (text, format) => {
          const f = file("manifest.json", text);
          check(["sign", f, "--out", join(work, `${n}.sigstore.json`), "--unsigned"]);
          check(["export", format, f, "--out", join(work, `${n}.export.json`)]);
        },
      ),
      params(),
    );
  });

  it("tars", () => {
    const damaged = fc.oneof(
      fc.nat({ max: tar.length }).map((cut) => tar.subarray(0, cut)),
      fc
        .array(fc.tuple(fc.nat({ max: tar.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
        .map((flips) => {
          const b = Buffer.from(tar);
          for (const [i, v] of flips) b[i] = v;
          return b;
        }),
      fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(damaged, (bytes) => {
        const f = file("bag.tar", bytes);
        check(["bag", "validate", f]);
        check(["bag", "diff", run.bag, f]);
      }),
      params(),
    );
  });

  it("bag folders' tag files", () => {
    const fragment = fc.oneof(
      fc.constantFrom(
        "BagIt-Version: 1.0",
        "BagIt-Version: 0.97",
        "Tag-File-Character-Encoding: UTF-8",
        "Tag-File-Character-Encoding: latin-9",
        "Payload-Oxum: 4.1",
        "Payload-Oxum: -1.x",
        `${"0".repeat(64)}  data/rows.csv`,
        `${"0".repeat(64)} data/../../escape`,
        "abc  /etc/passwd",
        "data/rows.csv",
        "http://127.0.0.1:9/x 4 data/remote",
        "file:///etc/passwd - data/local",
        "%2e%2e/%2e%2e/x",
        " leading space",
        "\r",
        "",
      ),
      fc.string({ maxLength: 60 }),
    );
    const text = fc.array(fragment, { maxLength: 6 }).map((ls) => ls.join("\n"));
    const tagFile = fc.constantFrom(
      "bagit.txt",
      "bag-info.txt",
      "manifest-sha256.txt",
      "tagmanifest-sha256.txt",
      "fetch.txt",
      "manifest-md5.txt",
    );
    fc.assert(
      fc.property(tagFile, text, (name, body) => {
        const bag = join(work, `bag-${++n}`);
        cpSync(run.bag, bag, { recursive: true });
        writeFileSync(join(bag, name), body);
        check(["bag", "validate", bag]);
        check(["pin", "data", bag]);
        check(["bag", "fetch", bag, "--retries", "0"]);
      }),
      params(),
    );
  });

  it("names and flags", () => {
    const name = fc.oneof(
      fc.constantFrom(
        "spam",
        "",
        "..",
        "../../../../outside",
        "a/b",
        "-x",
        "a".repeat(300),
        "ümlaut",
        "with space",
        "nul\u0000",
        "commit:",
        "commit:zz",
        "production",
      ),
      fc.string({ maxLength: 20 }),
    );
    const path = () =>
      fc.constantFrom(
        "data",
        "missing",
        join(work, "fifo"),
        "/dev/zero",
        "/etc/hostname",
        "/etc/hostname/x",
        "/nonexistent/x",
        "/proc/xx",
        ".track-run/policy.yml",
        ".track-run/trust.json",
        "bag",
      );
    const number = fc.oneof(
      fc.constantFrom("-1", "0", "1e400", "NaN", "abc", "", "4294967296", "3.5"),
      fc.integer().map(String),
    );
    const argv = fc.oneof(
      fc
        .tuple(fc.constantFrom("show", "diff", "lineage", "promote", "compare"), name, name)
        .map(([c, a, b]) =>
          c === "promote"
            ? [c, a, "--model", b]
            : c === "lineage" || c === "show" || c === "compare"
              ? [c, a]
              : [c, a, b],
        ),
      fc
        .tuple(name, number, number)
        .map(([m, seed, timeout]) => [
          "run",
          "--model",
          m,
          "--runtime",
          "host",
          "--seed",
          seed,
          "--timeout",
          timeout,
          "--outputs",
          join(work, `run-out-${++n}`),
          "--unsigned",
          "--",
          "true",
        ]),
      fc
        .tuple(path(), path())
        .map(([src, other]) => [
          "bag",
          "create",
          src,
          "--out",
          join(work, `bag-out-${++n}`),
          "--info",
          `Source=${other}`,
        ]),
      fc.tuple(path(), path()).map(([a, b]) => ["bag", "diff", a, b]),
      fc
        .tuple(number, number, name)
        .map(([c, r, alg]) => ["bag", "fetch", "bag", "--concurrency", c, "--retries", r, "--alg", alg]),
      fc
        .tuple(name, name)
        .map(([alg, info]) => [
          "bag",
          "create",
          "data",
          "--out",
          join(work, `b-${++n}`),
          "--alg",
          alg,
          "--info",
          info,
        ]),
      fc.tuple(path(), path()).map(([a, b]) => ["verify", a, "--trust", b]),
      fc
        .tuple(path(), name)
        .map(([p, alg]) => ["keygen", "--out", join(work, `k-${++n}`, p.replace(/^\/+/, "")), "--alg", alg]),
      fc
        .tuple(name, name)
        .map(([m, l]) => [
          "log",
          "--model",
          m,
          "--ledger",
          `dir:${join(work, "ledgers", l.replace(/\0/g, ""))}`,
        ]),
      fc.array(name, { maxLength: 4 }),
    );
    fc.assert(
      fc.property(argv, (args) => {
        if (args.some((a) => a.includes("\u0000"))) return; // no process can receive a NUL in its arguments
        check(args);
      }),
      params(RUNS * 3),
    );
  });
});
