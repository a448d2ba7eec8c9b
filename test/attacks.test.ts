// The attack suite: what an adversary with write access to the ledger (anyone who can write the
// dir: ledger's folder, or push the git: ledger's branch) tries, on both kinds of ledger, through
// the built command line with `--runtime host` runs. Each attack is refused the way a user notices:
// the deciding command exits 1 or 2 (never 0, never a crash) with a message naming what is wrong,
// nothing is promoted (the ledger's models are as the attacker left them), and nothing is written
// outside the ledger and the project (the sentinel folder beside the project is unchanged).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe } from "vitest";
import { hostRunArgs } from "../packages/cli/test/ledger-project.js";
import {
  attackTest,
  badInput,
  check,
  copyRun,
  type Fixture,
  forgeUnsigned,
  freshRunId,
  type Kind,
  makeProject,
  noCrash,
  type Project,
  promotionFiles,
  readJson,
  refused,
  removeBuiltCli,
  runDir,
  said,
  truncate,
  withMetric,
  worked,
  writeJson,
} from "./attack-helpers.js";

const kinds: Kind[] = ["dir", "git"];

afterAll(() => removeBuiltCli());

/** How a listing marks a record that does not count. */
const MARKED = /damaged|unsigned|untrusted|not verified|not signed/i;

/** Whatever names the promotion history: production.json, a promotion record, the chain. */
const HISTORY = /production\.json|promotion|chain/i;

describe.each(kinds)("an adversary with write access to a %s: ledger", (kind) => {
  const top = fs.mkdtempSync(join(tmpdir(), `track-run-attacks-${kind}-`));
  let project: Project;
  beforeAll(async () => {
    project = await makeProject(kind, top);
  }, 240_000);
  afterAll(async () => {
    await project?.close();
    fs.rmSync(top, { recursive: true, force: true });
  });

  /**
   * The attack's fixture, edited by the attacker. By default the machine under attack reads the
   * ledger for the first time after the attack (a fresh CI job); with `seen`, it read the ledger
   * before (its cache keeps what it saw verified).
   */
  async function attack(
    name: string,
    edit?: (ledger: string, f: Fixture) => void,
    o: { seen?: boolean } = {},
  ) {
    const f = await project.fixture(name);
    if (o.seen) worked(await f.cli("log"));
    if (edit) await f.edit((l) => edit(l, f));
    const models = f.models();
    const outside = f.outside();
    return {
      f,
      ...f.runs,
      /** Nothing written outside the ledger and the project. */
      outsideUnchanged() {
        check().soft(f.outside(), "nothing is written outside the ledger and the project").toEqual(outside);
      },
      /** Nothing promoted or rolled back, nothing written outside. */
      unchanged() {
        check()
          .soft(f.models(), "the ledger's promotions and production pointers are unchanged")
          .toEqual(models);
        check().soft(f.outside(), "nothing is written outside the ledger and the project").toEqual(outside);
      },
    };
  }

  /** A value the attacker wrote is shown only beside a mark naming the file it came from. */
  function notShownUnmarked(r: Awaited<ReturnType<Fixture["cli"]>>, value: string, file: string) {
    noCrash(r);
    check()
      .soft(
        r.text.includes(value) && !r.text.includes(file),
        `shows the edited value ${value} without naming ${file}${said(r)}`,
      )
      .toBe(false);
  }

  attackTest(
    "the control: on the ledger as recorded, the same commands pass (compare, verify-artifact, promote, rollback)",
    async () => {
      const a = await attack("control");
      worked(await a.f.cli("compare", a.B));
      worked(await a.f.cli("verify-artifact", "data/rows.csv", "--model", "spam"));
      worked(await a.f.cli("show", a.P2));
      worked(await a.f.cli("promote", a.B, "--model", "spam"));
      check().soft(a.f.production()?.runId, "B promoted").toBe(a.B);
      worked(await a.f.cli("rollback", "--model", "spam"));
      check().soft(a.f.production()?.runId, "rolled back to P2").toBe(a.P2);
      a.outsideUnchanged();
    },
  );

  attackTest(
    "files edited after this machine verified them (same size, times put back): refused all the same",
    async () => {
      const a = await attack(
        "edited-after-seen",
        (l, f) => {
          const sameSize = (path: string, from: string, to: string) => {
            const st = fs.statSync(path);
            const body = fs.readFileSync(path, "utf8");
            fs.writeFileSync(path, body.replace(from, to));
            fs.utimesSync(path, st.atime, st.mtime);
          };
          sameSize(join(runDir(l, f.runs.B), "metrics.json"), "0.87", "0.99");
          sameSize(join(runDir(l, f.runs.P2), "manifest.json"), '"value": 0.86', '"value": 0.12');
        },
        { seen: true },
      );
      refused(await a.f.cli("compare", a.B), "metrics.json");
      refused(await a.f.cli("promote", a.B, "--model", "spam"), "metrics.json");
      notShownUnmarked(await a.f.cli("show", a.P2), "0.12", "manifest.json");
      a.unchanged();
    },
  );

  attackTest(
    "the production run's manifest.json edited (accuracy lowered): a worse candidate neither passes nor is promoted",
    async () => {
      const a = await attack("prod-manifest", (l, f) => {
        const p = join(runDir(l, f.runs.P2), "manifest.json");
        writeJson(p, withMetric(readJson(p), "accuracy", 0.123));
      });
      refused(await a.f.cli("compare", a.W), a.P2);
      refused(await a.f.cli("promote", a.W, "--model", "spam"), a.P2);
      notShownUnmarked(await a.f.cli("show", a.P2), "0.123", "manifest.json");
      notShownUnmarked(await a.f.cli("log"), "0.123", "manifest.json");
      notShownUnmarked(await a.f.cli("diff", a.P2, a.B), "0.123", "manifest.json");
      a.unchanged();
    },
  );

  const pointerEdits: Array<[string, (l: string, f: Fixture) => void]> = [
    ["truncated", (l) => truncate(join(l, "models/spam/production.json"))],
    ["deleted", (l) => fs.rmSync(join(l, "models/spam/production.json"))],
    [
      "repointed to another run",
      (l, f) => {
        const p = join(l, "models/spam/production.json");
        writeJson(p, { ...readJson(p), runId: f.runs.W });
      },
    ],
  ];
  for (const [what, edit] of pointerEdits)
    attackTest(
      `models/spam/production.json ${what}: an error naming the file, never 'no production'`,
      async () => {
        const a = await attack(`pointer-${what.split(" ")[0]}`, edit);
        refused(await a.f.cli("compare", a.B), "production.json");
        refused(await a.f.cli("promote", a.B, "--model", "spam"), "production.json");
        refused(await a.f.cli("rollback", "--model", "spam"), "production.json");
        refused(await a.f.cli("verify-artifact", "data/rows.csv", "--model", "spam"), "production.json");
        a.unchanged();
      },
    );

  attackTest(
    "hand-written reproduction records (unsigned; or another run's signature) do not count for `reproduced: 1`",
    async () => {
      const a = await attack("forged-reproduction", (l, f) => {
        const { B, W } = f.runs;
        // Unsigned: a manifest and a reproduction.json written by hand.
        const unsigned = freshRunId(1);
        fs.mkdirSync(runDir(l, unsigned), { recursive: true });
        const m = readJson(join(runDir(l, B), "manifest.json"));
        writeJson(join(runDir(l, unsigned), "manifest.json"), {
          ...m,
          runId: unsigned,
          links: { reproductionOf: B },
        });
        writeJson(join(runDir(l, unsigned), "reproduction.json"), { verdict: "bitwise" });
        // Signed, but the signature is W's: its manifest edited to name B as what it reproduces.
        const borrowed = freshRunId(2);
        copyRun(runDir(l, W), runDir(l, borrowed));
        const p = join(runDir(l, borrowed), "manifest.json");
        writeJson(p, { ...readJson(p), runId: borrowed, links: { reproductionOf: B } });
        writeJson(join(runDir(l, borrowed), "reproduction.json"), { verdict: "bitwise" });
      });
      const policy = ".track-run/policy-reproduced.yml";
      refused(await a.f.cli("compare", a.B, "--policy", policy), /reproduc/i);
      refused(await a.f.cli("promote", a.B, "--model", "spam", "--policy", policy), /reproduc/i);
      a.unchanged();
    },
  );

  attackTest(
    "a run folder copied under a new id (the signed run id differs from the folder): refused by name",
    async () => {
      const copy = freshRunId(3);
      const a = await attack("copied-run", (l, f) => copyRun(runDir(l, f.runs.B), runDir(l, copy)));
      refused(await a.f.cli("compare", copy), copy);
      refused(await a.f.cli("promote", copy, "--model", "spam"), copy);
      refused(await a.f.cli("show", copy), copy);
      refused(await a.f.cli("reproduce", copy, "--unsigned"), copy);
      refused(await a.f.cli("diff", copy, a.B), copy);
      refused(await a.f.cli("export", "slsa", copy), copy);
      // Listings show it only marked.
      const model = (await a.f.cli("show", a.B, "--json")).stdout;
      const sha = /"path":\s*"model\.bin",\s*"sha256":\s*"([0-9a-f]{64})"/.exec(model)?.[1];
      check().soft(sha, `the output model.bin of ${a.B} in show --json`).toBeDefined();
      for (const r of [await a.f.cli("log"), await a.f.cli("lineage", sha!)]) {
        noCrash(r);
        for (const line of r.text.split("\n").filter((l) => l.includes(copy)))
          check()
            .soft(line, `${copy} is listed unmarked${said(r)}`)
            .toMatch(MARKED);
      }
      a.unchanged();
    },
  );

  attackTest("another run's bundle and manifest copied into a run's folder: refused by name", async () => {
    const a = await attack("borrowed-record", (l, f) => copyRun(runDir(l, f.runs.B), runDir(l, f.runs.W)));
    refused(await a.f.cli("compare", a.W), a.W);
    refused(await a.f.cli("promote", a.W, "--model", "spam"), a.W);
    a.unchanged();
  });

  attackTest(
    "a run id that is a path (../../../../outside, a signed record planted there): exit 2 naming it",
    async () => {
      const run = "../../../../outside";
      const a = await attack("run-traversal", (l, f) => {
        // Where runs/../../../../outside lands from the dir: ledger of the project: beside the project.
        copyRun(runDir(l, f.runs.B), join(f.root, "outside"));
      });
      badInput(await a.f.cli("promote", run, "--model", "spam"), run);
      badInput(await a.f.cli("compare", run), run);
      badInput(await a.f.cli("compare", a.B, "--baseline", run), run);
      badInput(await a.f.cli("show", run), run);
      a.unchanged();
    },
  );

  attackTest(
    "model names that are paths or too long (promote, compare, rollback): exit 2 naming the input, nothing written",
    async () => {
      const a = await attack("model-traversal", (l) => {
        // A production pointer where models/../x lands, for a rollback to act on.
        fs.mkdirSync(join(l, "x"), { recursive: true });
        fs.copyFileSync(join(l, "models/spam/production.json"), join(l, "x/production.json"));
      });
      const outsideModel = "../../../../escape";
      // A policy naming the model: the value, or the policy file and its key, named.
      const policy = ".track-run/traversal-policy.yml";
      const inPolicy = /\.\.\/\.\.\/\.\.\/\.\.\/escape|traversal-policy\.yml[^\n]*(\n.*)?model/;
      badInput(await a.f.cli("promote", a.B, "--model", outsideModel, "--policy", policy), inPolicy);
      badInput(await a.f.cli("compare", a.B, "--policy", policy), inPolicy);
      badInput(await a.f.cli("promote", a.B, "--model", outsideModel), outsideModel);
      badInput(await a.f.cli("rollback", "--model", outsideModel), outsideModel);
      badInput(await a.f.cli("rollback", "--model", "../x"), "../x");
      badInput(await a.f.cli("log", "--model", outsideModel), outsideModel);
      const long = "m".repeat(300);
      badInput(await a.f.cli("rollback", "--model", long), "m".repeat(40));
      badInput(
        await a.f.cli("promote", a.B, "--model", long, "--policy", ".track-run/long-policy.yml"),
        /m{40}|long-policy\.yml[^\n]*(\n.*)?model/,
      );
      check()
        .soft(fs.existsSync(join(a.f.root, "escape")), "nothing made at ../../../../escape")
        .toBe(false);
      a.unchanged();
    },
  );

  attackTest(
    "metrics.json edited: compare and promote refuse naming the file, even under a policy with signed: false",
    async () => {
      const a = await attack("metrics-json", (l, f) =>
        writeJson(join(runDir(l, f.runs.B), "metrics.json"), { accuracy: 0.99 }),
      );
      refused(await a.f.cli("compare", a.B), "metrics.json");
      refused(await a.f.cli("promote", a.B, "--model", "spam"), "metrics.json");
      refused(await a.f.cli("compare", a.B, "--policy", ".track-run/policy-lax.yml"), "metrics.json");
      refused(
        await a.f.cli("promote", a.B, "--model", "spam", "--policy", ".track-run/policy-lax.yml"),
        "metrics.json",
      );
      a.unchanged();
    },
  );

  attackTest("log.txt edited: promote refuses naming the file, show marks it", async () => {
    const a = await attack("log-txt", (l, f) =>
      fs.appendFileSync(join(runDir(l, f.runs.B), "log.txt"), "all tests passed, accuracy 0.99\n"),
    );
    refused(await a.f.cli("compare", a.B), "log.txt");
    refused(await a.f.cli("promote", a.B, "--model", "spam"), "log.txt");
    const show = await a.f.cli("show", a.B);
    noCrash(show);
    check()
      .soft(show.text.includes("log.txt"), `show marks the edited log.txt${said(show)}`)
      .toBe(true);
    a.unchanged();
  });

  attackTest(
    "a stored payload manifest (data-rows.manifest-sha256.txt) edited: refused naming the file",
    async () => {
      const file = "data-rows.manifest-sha256.txt";
      const a = await attack("payload-manifest", (l, f) =>
        fs.appendFileSync(join(runDir(l, f.runs.B), file), `${"0".repeat(64)}  data/planted.csv\n`),
      );
      refused(await a.f.cli("compare", a.B), file);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), file);
      a.unchanged();
    },
  );

  attackTest(
    "one truncated manifest.json in an unrelated run: every other run still works; the damaged one is reported with its path",
    async () => {
      const a = await attack("damaged-manifest", (l, f) =>
        truncate(join(runDir(l, f.runs.W), "manifest.json")),
      );
      worked(await a.f.cli("compare", a.B));
      worked(await a.f.cli("show", a.B));
      refused(await a.f.cli("show", a.W), a.W, "manifest.json");
      const log = await a.f.cli("log");
      noCrash(log);
      check()
        .soft(log.text.includes(a.W), `log reports the damaged run${said(log)}`)
        .toBe(true);
      worked(await a.f.cli("promote", a.B, "--model", "spam"));
      check().soft(a.f.production()?.runId).toBe(a.B);
      a.outsideUnchanged();
    },
  );

  attackTest(
    "one truncated reproduction.json (of a run reproducing B): B still works; the damaged record is reported",
    async () => {
      const rep = freshRunId(4);
      const a = await attack("damaged-reproduction", (l, f) => {
        copyRun(runDir(l, f.runs.W), runDir(l, rep));
        const p = join(runDir(l, rep), "manifest.json");
        writeJson(p, { ...readJson(p), runId: rep, links: { reproductionOf: f.runs.B } });
        fs.writeFileSync(join(runDir(l, rep), "reproduction.json"), '{"verdict": "bitw');
      });
      worked(await a.f.cli("compare", a.B));
      worked(await a.f.cli("show", a.B));
      refused(await a.f.cli("show", rep), rep);
      worked(await a.f.cli("promote", a.B, "--model", "spam"));
      check().soft(a.f.production()?.runId).toBe(a.B);
      a.outsideUnchanged();
    },
  );

  /** Renames a promotion record's files from number `from` to number `to`. */
  const renumber = (l: string, model: string, from: number, to: number, tag = "") => {
    for (const p of promotionFiles(l, model, from)) {
      const dir = join(p, "..");
      const name = p.slice(dir.length + 1);
      fs.renameSync(p, join(dir, `${String(to).padStart(6, "0")}${tag}${name.slice(6)}`));
    }
  };
  const historyEdits: Array<[string, (l: string, f: Fixture) => void]> = [
    [
      "the first promotion record deleted",
      (l) => {
        for (const p of promotionFiles(l, "spam", 1)) fs.rmSync(p);
      },
    ],
    [
      "promotion records reordered",
      (l) => {
        renumber(l, "spam", 1, 9, ".swap");
        renumber(l, "spam", 2, 1);
        for (const p of promotionFiles(l, "spam", 9))
          fs.renameSync(p, p.replace(/\/000009\.swap/, "/000002"));
      },
    ],
    [
      "the chain head removed",
      (l) => {
        for (const p of promotionFiles(l, "spam", 2)) fs.rmSync(p);
      },
    ],
    [
      "a promotion record replayed from another model",
      (l) => {
        for (const p of promotionFiles(l, "other", 2)) {
          const name = p.slice(p.lastIndexOf("/") + 1);
          fs.copyFileSync(p, join(l, "models/spam/promotions", `000003${name.slice(6)}`));
        }
        fs.copyFileSync(join(l, "models/other/production.json"), join(l, "models/spam/production.json"));
      },
    ],
    [
      "a forged promotion record appended (a worse run, the signature of the head kept)",
      (l, f) => {
        const { P2, W } = f.runs;
        const pointer = readJson(join(l, "models/spam/production.json"));
        const forged = {
          ...pointer,
          runId: W,
          seq: 3,
          previous: { runId: P2, manifestDigest: pointer.manifestDigest },
        };
        writeJson(join(l, "models/spam/production.json"), forged);
        for (const p of promotionFiles(l, "spam", 2)) {
          const name = p.slice(p.lastIndexOf("/") + 1);
          const to = join(l, "models/spam/promotions", `000003${name.slice(6).replace(P2, W)}`);
          const doc = readJson(p) as { dsseEnvelope?: { payload: string } } & Record<string, unknown>;
          if (doc.dsseEnvelope) {
            const statement = JSON.parse(
              Buffer.from(doc.dsseEnvelope.payload, "base64").toString("utf8"),
            ) as {
              predicate: Record<string, unknown>;
            };
            statement.predicate = { ...statement.predicate, ...forged };
            doc.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
            writeJson(to, doc);
          } else writeJson(to, forged);
        }
      },
    ],
    [
      "every promotion record deleted (production.json kept)",
      (l) => fs.rmSync(join(l, "models/spam/promotions"), { recursive: true }),
    ],
    [
      "an earlier promotion record of the same model replayed as the head",
      (l) => {
        for (const p of promotionFiles(l, "spam", 1)) {
          const name = p.slice(p.lastIndexOf("/") + 1);
          fs.copyFileSync(p, join(l, "models/spam/promotions", `000003${name.slice(6)}`));
        }
        const first = promotionFiles(l, "spam", 1).find((p) => !p.endsWith(".sigstore.json"));
        const pointer = readJson(join(l, "models/spam/production.json"));
        writeJson(
          join(l, "models/spam/production.json"),
          first
            ? readJson(first)
            : { ...pointer, runId: (pointer.previous as { runId: string }).runId, seq: 3 },
        );
      },
    ],
  ];
  for (const [what, edit] of historyEdits)
    attackTest(`${what}: compare, promote and rollback refuse, naming the history`, async () => {
      const a = await attack(`history-${what.split(" ").slice(0, 3).join("-")}`, edit);
      refused(await a.f.cli("compare", a.B), HISTORY);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), HISTORY);
      refused(await a.f.cli("rollback", "--model", "spam"), HISTORY);
      refused(await a.f.cli("verify-artifact", "data/rows.csv", "--model", "spam"), HISTORY);
      a.unchanged();
    });

  attackTest(
    "a run and a promotion signed by a key the trust file does not name (the attacker's own promote, lax policy)",
    async () => {
      const a = await attack("untrusted-key");
      const evil = await a.f.cli(
        ...hostRunArgs(`echo '{"accuracy": 0.81}' > "$TRACK_RUN_METRICS"`, {
          data: false,
          flags: ["--key", ".track-run/keys/evil.key"],
        }),
      );
      worked(evil);
      const E = (JSON.parse(evil.stdout) as { runId: string }).runId;
      refused(await a.f.cli("compare", E), /sign|trust/i);
      const log = await a.f.cli("log");
      noCrash(log);
      for (const line of log.text.split("\n").filter((l) => l.includes(E)))
        check()
          .soft(line, `${E} (signed by an untrusted key) is listed unmarked${said(log)}`)
          .toMatch(MARKED);
      const show = await a.f.cli("show", E);
      noCrash(show);
      check()
        .soft(show.text, `${E} (signed by an untrusted key) is shown unmarked${said(show)}`)
        .toMatch(MARKED);
      // The attacker promotes it with their own key, trusting it on their command line only.
      worked(
        await a.f.cli(
          "promote",
          E,
          "--model",
          "spam",
          "--policy",
          ".track-run/policy-lax.yml",
          "--trusted-key",
          ".track-run/keys/evil.pub",
          "--key",
          ".track-run/keys/evil.key",
        ),
      );
      const models = a.f.models();
      const outside = a.f.outside();
      refused(await a.f.cli("compare", a.B), new RegExp(`${HISTORY.source}|${E}`, "i"));
      refused(await a.f.cli("promote", a.B, "--model", "spam"), new RegExp(`${HISTORY.source}|${E}`, "i"));
      refused(await a.f.cli("rollback", "--model", "spam"), new RegExp(`${HISTORY.source}|${E}`, "i"));
      check().soft(a.f.models()).toEqual(models);
      check().soft(a.f.outside()).toEqual(outside);
    },
  );

  attackTest("the production run's folder deleted: compare and promote refuse naming the run", async () => {
    const a = await attack("production-run-deleted", (l, f) =>
      fs.rmSync(runDir(l, f.runs.P2), { recursive: true }),
    );
    refused(await a.f.cli("compare", a.B), a.P2);
    refused(await a.f.cli("promote", a.B, "--model", "spam"), a.P2);
    a.unchanged();
  });

  attackTest(
    "the whole promotion history deleted, and its signed copies beside the promoted runs too: a machine that read the ledger before refuses, never 'no production'",
    async () => {
      const a = await attack(
        "history-and-copies-gone",
        (l) => {
          fs.rmSync(join(l, "models/spam"), { recursive: true });
          for (const run of fs.readdirSync(join(l, "runs")))
            for (const n of fs.readdirSync(runDir(l, run)).filter((n) => n.startsWith("promotion-spam-")))
              fs.rmSync(join(runDir(l, run), n));
        },
        { seen: true },
      );
      refused(await a.f.cli("compare", a.B), /spam/);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), /spam/);
      a.unchanged();
    },
  );

  attackTest(
    "runs/ replaced by a link to its own contents moved outside, the history deleted: never 'no production'",
    async () => {
      const a = await attack("runs-linked", (l, f) => {
        fs.rmSync(join(l, "models/spam"), { recursive: true });
        const away = join(f.root, "outside-runs");
        fs.renameSync(join(l, "runs"), away);
        fs.symlinkSync(away, join(l, "runs"));
      });
      refused(await a.f.cli("compare", a.B), new RegExp(`spam|runs|${a.B}`));
      refused(await a.f.cli("promote", a.B, "--model", "spam"), new RegExp(`spam|runs|${a.B}`));
      a.unchanged();
    },
  );

  /** Removes the head record (#2) of spam and points production.json at #1: a shorter chain that verifies. */
  const rewind = (l: string) => {
    for (const p of promotionFiles(l, "spam", 2)) fs.rmSync(p);
    const first = promotionFiles(l, "spam", 1).find((p) => p.endsWith(".sigstore.json"))!;
    const doc = readJson(first) as { dsseEnvelope: { payload: string } };
    const pointer = (
      JSON.parse(Buffer.from(doc.dsseEnvelope.payload, "base64").toString("utf8")) as { predicate: unknown }
    ).predicate;
    writeJson(join(l, "models/spam/production.json"), pointer);
  };

  attackTest(
    "the chain's head removed and production.json rewound to the record before it (a shorter history that verifies): refused",
    async () => {
      const a = await attack("history-rewound", rewind);
      refused(await a.f.cli("compare", a.B), HISTORY);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), HISTORY);
      a.unchanged();
    },
  );

  attackTest(
    "the chain rewound and the signed copy of its head deleted too, on a machine that read the ledger before: refused",
    async () => {
      const a = await attack(
        "history-rewound-seen",
        (l, f) => {
          rewind(l);
          for (const n of fs.readdirSync(runDir(l, f.runs.P2)).filter((n) => n.startsWith("promotion-spam-")))
            fs.rmSync(join(runDir(l, f.runs.P2), n));
        },
        { seen: true },
      );
      refused(await a.f.cli("compare", a.B), HISTORY);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), HISTORY);
      a.unchanged();
    },
  );

  attackTest(
    "the whole promotion history of the model deleted (models/spam removed): production is reported broken, never 'no production'",
    async () => {
      const a = await attack("history-gone", (l) => fs.rmSync(join(l, "models/spam"), { recursive: true }));
      refused(await a.f.cli("compare", a.B), /spam/);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), /spam/);
      a.unchanged();
    },
  );

  attackTest(
    "models/spam replaced by a file: production is reported broken, never 'no production'",
    async () => {
      const a = await attack("history-file", (l) => {
        fs.rmSync(join(l, "models/spam"), { recursive: true });
        fs.writeFileSync(join(l, "models/spam"), "not a folder\n");
      });
      refused(await a.f.cli("compare", a.B), /spam/);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), /spam/);
      a.unchanged();
    },
  );

  attackTest(
    "special files in place of record files (a FIFO, a link to /dev/zero): refused naming them, never a hang",
    async () => {
      const special = (path: string, fifo: boolean) => {
        fs.rmSync(path);
        if (fifo && kind === "dir") spawnSync("mkfifo", [path]);
        else fs.symlinkSync("/dev/zero", path);
      };
      const a = await attack("special-files", (l, f) => {
        special(join(runDir(l, f.runs.B), "log.txt"), false);
        special(join(runDir(l, f.runs.B), "metrics.json"), true);
      });
      refused(await a.f.cli("compare", a.B), a.B);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), a.B);
      refused(await a.f.cli("show", a.B), a.B);
      await a.f.edit((l) => special(join(l, "models/spam/production.json"), true));
      refused(await a.f.cli("compare", a.W), "production.json");
      refused(await a.f.cli("rollback", "--model", "spam"), "production.json");
      a.outsideUnchanged();
    },
  );

  attackTest(
    "links planted as a killed writer's leftovers (pointing outside): the next promotion and run delete nothing outside",
    async () => {
      const a = await attack("planted-leftovers", (l, f) => {
        const dead = "999999-deadbeef";
        fs.symlinkSync(
          join(f.root, "sentinel"),
          join(l, `models/spam/promotions/.promotion-${dead}.pending`),
        );
        fs.symlinkSync(join(f.root, "sentinel/keep.txt"), join(l, `models/spam/.production-${dead}.tmp`));
        fs.symlinkSync(join(f.root, "sentinel"), join(l, `runs/.${f.runs.B}-${dead}.partial`));
      });
      const promote = await a.f.cli("promote", a.B, "--model", "spam");
      noCrash(promote);
      const run = await a.f.cli(
        "run",
        "--model",
        "spam",
        "--runtime",
        "host",
        "--",
        "sh",
        "-c",
        `echo '{"accuracy": 0.9}' > "$TRACK_RUN_METRICS"`,
      );
      noCrash(run);
      a.outsideUnchanged();
    },
  );

  attackTest(
    "a genuine reproduction of another run relabelled, or its signed verdict copied: neither counts for `reproduced: 1` (a genuine one does)",
    async () => {
      const a = await attack("relabelled-reproduction");
      const policy = ".track-run/policy-reproduced.yml";
      const first = await a.f.cli("reproduce", a.P1, "--json");
      worked(first);
      const R = (JSON.parse(first.stdout) as { reproduction: { runId: string } }).reproduction.runId;
      await a.f.edit((l) => {
        // The reproduction of P1, its manifest.json relabelled to reproduce B.
        const p = join(runDir(l, R), "manifest.json");
        writeJson(p, { ...readJson(p), links: { reproductionOf: a.B } });
        // A copy of the whole record under a new id, relabelled too.
        const copy = freshRunId(6);
        copyRun(runDir(l, R), runDir(l, copy));
        const q = join(runDir(l, copy), "manifest.json");
        writeJson(q, { ...readJson(q), runId: copy });
        // B's own signed run record copied as a reproduction of B, with P1's signed verdict beside it.
        const self = freshRunId(7);
        copyRun(runDir(l, a.B), runDir(l, self));
        const m = join(runDir(l, self), "manifest.json");
        writeJson(m, { ...readJson(m), runId: self, links: { reproductionOf: a.B } });
        for (const n of fs.readdirSync(runDir(l, R)).filter((n) => n.startsWith("reproduction")))
          fs.copyFileSync(join(runDir(l, R), n), join(runDir(l, self), n));
      });
      const models = a.f.models();
      refused(await a.f.cli("compare", a.B, "--policy", policy), /reproduc/i);
      refused(await a.f.cli("promote", a.B, "--model", "spam", "--policy", policy), /reproduc/i);
      check().soft(a.f.models()).toEqual(models);
      // The control: a genuine reproduction of B counts, with the forged ones still there.
      worked(await a.f.cli("reproduce", a.B));
      worked(await a.f.cli("compare", a.B, "--policy", policy));
      a.outsideUnchanged();
    },
  );

  attackTest(
    "reproduce runs a recorded command only from a verified record (a forged unsigned one, one signed by an untrusted key)",
    async () => {
      const a = await attack("reproduce-forged");
      const unsigned = freshRunId(8);
      const pwned = (what: string) => join(a.f.root, `pwned-${what}`);
      await a.f.edit((l) =>
        forgeUnsigned(l, a.B, unsigned, (m) => ({
          ...m,
          invocation: { ...(m.invocation as object), command: ["sh", "-c", `touch ${pwned("unsigned")}`] },
        })),
      );
      const evil = await a.f.cli(
        ...hostRunArgs(`touch ${pwned("untrusted")}; echo '{"accuracy": 0.9}' > "$TRACK_RUN_METRICS"`, {
          data: false,
          flags: ["--key", ".track-run/keys/evil.key"],
        }),
      );
      worked(evil);
      const E = (JSON.parse(evil.stdout) as { runId: string }).runId;
      fs.rmSync(pwned("untrusted"), { force: true });
      const outside = a.f.outside();
      refused(await a.f.cli("reproduce", unsigned), unsigned);
      refused(await a.f.cli("reproduce", E), E);
      check()
        .soft(fs.existsSync(pwned("unsigned")), "the forged command ran")
        .toBe(false);
      check()
        .soft(fs.existsSync(pwned("untrusted")), "the untrusted command ran")
        .toBe(false);
      check().soft(a.f.outside(), "nothing is written outside the ledger and the project").toEqual(outside);
    },
  );

  attackTest(
    "control characters in a forged record's metric names and status never reach the terminal",
    async () => {
      const forged = freshRunId(9);
      // Back to the line's start, clear it, go up a line, write over it; then hide the rest (the mark).
      const spoof = "accuracy\r\u001b[2K\u001b[1A* FAKE signed by ci\u001b[8m";
      // A line of its own that looks like a production row of log, unmarked.
      const fakeRow = `x\n* ${freshRunId(11)}  spam             000000000000 succeeded accuracy=0.99 FAKE-ROW`;
      // Right-to-left override: the rest of the line (the mark) shown reversed.
      const bidi = "loss\u202e]DENGISNU[";
      const a = await attack("terminal-spoof", (l, f) =>
        forgeUnsigned(l, f.runs.B, forged, (m) => ({
          ...m,
          metrics: {
            final: [
              { name: spoof, value: 0.99, stage: "test" },
              { name: fakeRow, value: 1, stage: "validation" },
              { name: bidi, value: 0.1 },
            ],
          },
          status: { ...(m.status as object), reason: "\u001b]0;owned\u0007 \u009b2J" },
        })),
      );
      for (const r of [
        await a.f.cli("log"),
        await a.f.cli("show", forged),
        await a.f.cli("compare", forged),
        await a.f.cli("diff", a.B, forged),
        await a.f.cli("compare", forged, "--markdown"),
      ]) {
        noCrash(r);
        check()
          .soft(
            /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(r.text),
            `a raw control character reaches the terminal${said(r)}`,
          )
          .toBe(false);
      }
      const log = await a.f.cli("log");
      for (const line of log.text.split("\n").filter((l) => l.includes("FAKE-ROW")))
        check()
          .soft(line, `a forged metric name makes a line of its own in log${said(log)}`)
          .toContain(forged);
      a.unchanged();
    },
  );

  attackTest(
    "a run planted at a candidate's commit (unsigned, a worse value, another seed): compare commit:SHA judges the genuine run alone",
    async () => {
      const planted = freshRunId(10);
      const a = await attack("planted-at-commit", (l, f) =>
        forgeUnsigned(l, f.runs.C, planted, (m) => ({
          ...m,
          invocation: { ...(m.invocation as object), seed: 7 },
          metrics: { final: [{ name: "accuracy", value: 0.2 }] },
        })),
      );
      const r = await a.f.cli("compare", `commit:${a.commitC}`);
      worked(r);
      for (const line of r.text.split("\n").filter((l) => l.includes(planted)))
        check()
          .soft(line, `${planted} is counted unmarked${said(r)}`)
          .toMatch(MARKED);
      a.unchanged();
    },
  );

  attackTest(
    "invalidation records signed by a key the trust file does not name: they neither invalidate nor revalidate",
    async () => {
      const a = await attack("untrusted-invalidation");
      const evil = ["--trusted-key", ".track-run/keys/evil.pub", "--key", ".track-run/keys/evil.key"];
      // The attacker invalidates a good candidate with their own key: no denial of the gate.
      worked(await a.f.cli("invalidate", a.B, "--reason", "sabotage", ...evil));
      worked(await a.f.cli("compare", a.B));
      // The trusted key invalidates the candidate; the attacker revalidates it with their own key.
      worked(await a.f.cli("invalidate", a.B, "--reason", "trained on leaked test rows"));
      worked(await a.f.cli("revalidate", a.B, "--reason", "all fine", ...evil));
      const models = a.f.models();
      refused(await a.f.cli("compare", a.B), /invalidat/i);
      refused(await a.f.cli("promote", a.B, "--model", "spam"), /invalidat/i);
      check().soft(a.f.models(), "nothing promoted").toEqual(models);
      a.outsideUnchanged();
    },
  );

  attackTest(
    "runs/X a symbolic link to a signed record outside the ledger: refused by name, nothing written there",
    async () => {
      const link = freshRunId(5);
      const a = await attack("linked-run", (l, f) => {
        copyRun(runDir(l, f.runs.B), join(f.root, "outside-run"));
        fs.symlinkSync(join(f.root, "outside-run"), runDir(l, link));
      });
      refused(await a.f.cli("compare", link), link);
      refused(await a.f.cli("promote", link, "--model", "spam"), link);
      refused(await a.f.cli("show", link), link);
      a.unchanged();
    },
  );

  attackTest(
    "models/spam a symbolic link to a folder outside the ledger: promote and rollback write nothing there",
    async () => {
      const a = await attack("linked-model", (l, f) => {
        const away = join(f.root, "outside-model");
        fs.mkdirSync(away);
        fs.renameSync(join(l, "models/spam"), join(away, "spam"));
        fs.symlinkSync(join(away, "spam"), join(l, "models/spam"));
      });
      refused(await a.f.cli("promote", a.B, "--model", "spam"), "spam");
      refused(await a.f.cli("rollback", "--model", "spam"), "spam");
      a.unchanged();
    },
  );

  attackTest(
    "a candidate's own manifest.json edited, under a policy with signed: false: the edited value never passes",
    async () => {
      const a = await attack("candidate-manifest", (l, f) => {
        const p = join(runDir(l, f.runs.W), "manifest.json");
        writeJson(p, withMetric(readJson(p), "accuracy", 0.99));
      });
      const policy = ".track-run/policy-min95.yml";
      refused(await a.f.cli("compare", a.W, "--policy", policy));
      refused(await a.f.cli("promote", a.W, "--model", "spam", "--policy", policy));
      notShownUnmarked(await a.f.cli("show", a.W), "0.99", "manifest.json");
      a.unchanged();
    },
  );
});
