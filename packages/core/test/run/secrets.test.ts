// Secrets masked by value wherever a run's record, log or messages are built; URL credentials
// removed in user-info, query and fragment.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dataLocation, trackRun } from "../../src/run/index.js";
import { generateKeys, readPrivateKey } from "../../src/sign/index.js";
import {
  isSecretName,
  SecretMasker,
  secretsOf,
  stripCredentials,
  stripUrlCredentialsIn,
} from "../../src/util/secrets.js";
import { commitAll, holeyBagOf, tempDir, writeTree } from "../helpers.js";
import { hostRunSpec } from "./host-run.js";

const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQ0FrZXlmb3J0ZXN0aW5n",
  "b25seU5vdEFSZWFsS2V5QWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY3ODkw",
  "-----END PRIVATE KEY-----",
].join("\n");

describe("the masker", () => {
  it("names secrets by one pattern, the one docs/security.md states", () => {
    for (const n of [
      "WANDB_KEY",
      "DB_PASS",
      "PGPASSWORD",
      "MYSQL_PWD",
      "HF_TOKEN",
      "AWS_SECRET_ACCESS_KEY",
      "GOOGLE_APPLICATION_CREDENTIALS",
      "BASIC_AUTH",
      "private_key",
      "api-key",
      "TLS_CERT",
      "SESSION_ID",
    ])
      expect([n, isSecretName(n)]).toEqual([n, true]);
    for (const n of ["EPOCHS", "LEARNING_RATE", "CUDA_VISIBLE_DEVICES", "HOME"])
      expect([n, isSecretName(n)]).toEqual([n, false]);
    const doc = readFileSync(join(__dirname, "../../../../docs/security.md"), "utf8");
    for (const word of ["KEY", "PASS", "PWD", "TOKEN", "SECRET", "CREDENTIAL", "AUTH", "PRIVATE"])
      expect(doc).toContain(`\`*${word}*\``);
  });

  it("masks a multi-line value whole and line by line; short values are warned about, not masked", () => {
    const m = new SecretMasker([PEM, "abc"]);
    expect(m.mask(`key=${PEM}!`)).toBe("key=***!");
    for (const line of PEM.split("\n")) expect(m.mask(`> ${line}`)).toBe("> ***");
    expect(m.mask("abc stays")).toBe("abc stays");
    const s = secretsOf({ DB_PASS: "abc", WANDB_KEY: "wandb-0123456789", EPOCHS: "3", CERT_PEM: PEM });
    expect(s.values).toEqual(["abc", "wandb-0123456789", PEM]);
    expect(s.warnings).toEqual([
      expect.stringMatching(/^--env DB_PASS: its value is shorter than 4 characters/),
    ]);
    expect(m.maskDeep({ [`k-${PEM}`]: [PEM, 1, true] })).toEqual({ "k-***": ["***", 1, true] });
  });

  it.each([
    ["https://x-access-token:ghs_abc@github.com/o/r.git", "https://github.com/o/r.git"],
    ["https://github.com/o/r.git?access_token=ghs_abcdef", "https://github.com/o/r.git"],
    ["https://host/o/r.git?ref=main&private_token=glpat-xyz", "https://host/o/r.git?ref=main"],
    ["https://host/cb#access_token=abc&state=1", "https://host/cb#state=1"],
    ["https://host/x#id_token=eyJhbGciOi.eyJzdWIiOi.sig", "https://host/x"],
    [
      "https://bucket.s3.amazonaws.com/f.csv?X-Amz-Credential=AK%2F1&X-Amz-Signature=00ff&X-Amz-Expires=60",
      "https://bucket.s3.amazonaws.com/f.csv?X-Amz-Expires=60",
    ],
    [
      "https://acct.blob.core.windows.net/c/f?sv=2020&sig=abc%3D",
      "https://acct.blob.core.windows.net/c/f?sv=2020",
    ],
    ["https://host/r#ghp_0123456789abcdefghij0123", "https://host/r"],
    ["https://host/o/r.git#main", "https://host/o/r.git#main"],
    ["git@github.com:o/r.git", "git@github.com:o/r.git"],
  ])("removes the credentials of %s", (input, expected) => {
    expect(stripCredentials(input)).toBe(expected);
  });

  it("removes URL credentials inside text", () => {
    expect(stripUrlCredentialsIn("fetch https://u:p@h/x?token=t failed")).toBe("fetch https://h/x failed");
  });
});

describe("a tracked run", () => {
  it("never records or logs a secret value: log, env, metric names, curve keys, output paths, messages", async () => {
    const repo = tempDir();
    writeTree(repo, { "data/train/rows.csv": "1\n2\n", "train.txt": "x" });
    commitAll(repo);
    const WANDB = "wandb-0123456789abcdef";
    const DBPASS = "hunter2hunter2";
    const script = [
      "const fs=require('fs'),e=process.env,o=e.TRACK_RUN_OUTPUTS;",
      "console.log(e.SIGNING_PEM);",
      "console.log('wandb '+e.WANDB_KEY+' db '+e.DB_PASS+' short '+e.API_TOKEN);",
      "console.log('::track-run metric name=loss_'+e.DB_PASS+' value=1 step=1');",
      "console.log('clone https://u:'+e.DB_PASS+'@example.org/r.git?access_token='+'zz'+'zzzz');",
      "fs.writeFileSync(o+'/model-'+e.WANDB_KEY+'.bin','m');",
      "fs.writeFileSync(e.TRACK_RUN_METRICS,JSON.stringify({test:{['acc_'+e.WANDB_KEY]:0.5}}));",
      "fs.writeFileSync(e.TRACK_RUN_CURVES,JSON.stringify({step:1,['lr_'+e.WANDB_KEY]:0.1})+'\\n');",
      "process.exit(3)",
    ].join("");
    const steps: string[] = [];
    const r = await trackRun(
      hostRunSpec(repo, script, { env: ["SIGNING_PEM", "WANDB_KEY", "DB_PASS", "API_TOKEN", "EPOCHS"] }),
      {
        env: {
          PATH: process.env.PATH,
          SIGNING_PEM: PEM,
          WANDB_KEY: WANDB,
          DB_PASS: DBPASS,
          API_TOKEN: "xy",
          EPOCHS: `3 (${WANDB})`,
        },
        onStep: (m) => steps.push(m),
      },
    );
    const m = r.manifest;
    expect(m.invocation.env).toMatchObject({
      SIGNING_PEM: "***",
      WANDB_KEY: "***",
      DB_PASS: "***",
      API_TOKEN: "***",
      EPOCHS: "3 (***)",
    });
    expect(m.metrics.final).toEqual(
      expect.arrayContaining([
        { name: "acc_***", value: 0.5, stage: "test" },
        { name: "loss_***", value: 1 },
      ]),
    );
    expect(m.metrics.curves?.map((c) => c.name).sort()).toEqual(["loss_***", "lr_***"]);
    expect(m.outputs.map((o) => o.path)).toEqual(["model-***.bin"]);
    expect(r.warnings.join("\n")).toMatch(/--env API_TOKEN: its value is shorter than 4 characters/);
    // Nothing the run left in the ledger, said or printed holds a secret, or a line of the key.
    const texts = [
      ...readdirSync(r.recordDir).map((f) => readFileSync(join(r.recordDir, f), "utf8")),
      JSON.stringify(r),
      steps.join("\n"),
    ];
    for (const secret of [WANDB, DBPASS, ...PEM.split("\n"), "zzzzzz"])
      for (const t of texts) expect(t).not.toContain(secret);
    const log = readFileSync(join(r.recordDir, "log.txt"), "utf8");
    expect(log).toContain("wandb *** db *** short xy");
    expect(log).toContain("clone https://example.org/r.git\n");
    expect(log.split("\n").slice(0, 4)).toEqual(["***", "***", "***", "***"]);
  });

  it("records a bag inside the repository by a relative location, and keeps the private key out of git", async () => {
    const repo = tempDir();
    writeTree(repo, { "data/v1/rows.csv": "1\n2\n", "train.txt": "x" });
    commitAll(repo);
    const outside = tempDir();
    writeTree(outside, { "rows.csv": "3\n" });
    const keyDir = join(repo, ".track-run/keys");
    generateKeys(join(keyDir, "signing"));
    const r = await trackRun(
      {
        model: "demo",
        command: [process.execPath, "-e", "0"],
        repo,
        runtime: "host",
        data: [
          { name: "inside", path: join(repo, "data/v1") },
          { name: "outside", path: outside },
        ],
        ledger: `dir:${join(repo, ".track-run/ledger")}`,
        signing: { key: readPrivateKey(join(keyDir, "signing.key")) },
      },
      { env: { PATH: process.env.PATH } },
    );
    expect(r.manifest.data.map((d) => d.location)).toEqual(["data/v1", outside]);
    // A holey bag outside the repository is recorded by the URL of its payload, without credentials.
    const holey = join(tempDir(), "holey");
    holeyBagOf("https://u:pw@data.example.org/bags/train/rows.csv?token=abcd", "1,spam\n", holey);
    expect(dataLocation(repo, holey, true)).toBe("https://data.example.org/bags/train/");
    expect(dataLocation(repo, join(repo, "data/v1"), true)).toBe("data/v1");
    // .track-run/.gitignore keeps keys, run folders, caches and the local ledger out of `git add -A`.
    execFileSync("git", ["add", "-A"], { cwd: repo });
    const staged = execFileSync("git", ["diff", "--cached", "--name-only"], { cwd: repo, encoding: "utf8" });
    expect(staged.split("\n").filter(Boolean)).toEqual([".track-run/.gitignore"]);
  });
});
