// The whole track-run story on the spam-filter example, with the embedded defaults (a dir ledger
// in .track-run/ledger, a local signing key made on first use, the local Docker engine, or the
// host's python3 when there is no engine). Run from the repository root: `npm run example`.
//   pin the data -> train, sign, record -> compare with production (none yet) -> promote ->
//   a changed run (one epoch) -> its pull-request comment -> the gate -> reproduce production.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const ex = relative(root, here);
const bin = join(root, "packages", "cli", "bin", "track-run.js");
const config = join(ex, "track-run.yml");
const policy = join(ex, "policy.yml");

const step = (n, title) => console.log(`\n━━ ${n}. ${title}`);
function trackRun(args, { json = false, show = true } = {}) {
  console.log(`$ track-run ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [bin, ...args, ...(json ? ["--json"] : [])], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", show ? "inherit" : "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (show && !json) process.stdout.write(r.stdout);
  if (r.status === 2 || r.status === null) {
    if (!show) process.stderr.write(r.stderr);
    console.error(`story: track-run ${args[0]} could not run (exit ${r.status}); see above`);
    process.exit(2);
  }
  return { code: r.status, out: json ? JSON.parse(r.stdout) : r.stdout };
}

const docker = spawnSync("docker", ["version"], { stdio: "ignore" }).status === 0;
const runtime = docker ? [] : ["--runtime", "host"];
console.log("track-run story: the spam-filter example (SpamAssassin public corpus, 6,046 emails)");
if (!docker)
  console.log("No Docker engine answers here: training runs on this host's python3 (--runtime host).");
const dirty = spawnSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8" }).stdout.trim();
if (dirty)
  console.log(
    `Note: the working tree has uncommitted changes (${dirty.split("\n").length} files). Runs record them, the policy's clean_tree rule fails, and a reproduction runs the commit without them: commit first for the whole story.`,
  );

step(1, "Data: the corpus from the npm registry, pinned as a BagIt bag");
const corpus = join(ex, "data", "corpus");
if (!existsSync(join(root, corpus, "emails.jsonl"))) {
  const p = spawnSync(process.execPath, [join(here, "prepare.mjs")], { stdio: "inherit" });
  if (p.status !== 0) process.exit(2);
}
const pin = trackRun(["pin", "data", corpus], { json: true }).out;
console.log(`data pin ${pin.digest} (${pin.files} file, ${pin.bytes} bytes)`);

function train(title, extra) {
  const r = trackRun(["run", "--config", config, ...runtime, ...extra], { json: true });
  const m = r.out;
  console.log(
    `${title}: run ${m.runId} ${m.status}, signed (${m.signing}), recorded in ${m.recordDir ?? ".track-run/ledger"}`,
  );
  if (r.code !== 0) {
    console.error(`story: the training run failed: ${m.reason ?? ""}`);
    process.exit(1);
  }
  return m.runId;
}

step(2, "Train: pin code, data and image, run, capture metrics, sign, record");
const first = train("first model", []);

step(3, "Compare with production (there is none yet: bounds and provenance only)");
trackRun(["compare", first, "--policy", policy]);

step(4, "Promote it: re-verify, re-gate, one compare-and-swap of the production pointer");
const promoted =
  trackRun(["promote", first, "--model", "spam-filter", "--policy", policy, "--environment", "production"])
    .code === 0;

step(5, "A changed run: one epoch instead of three");
const second = train("candidate", ["--params", join(ex, "params-one-epoch.json")]);
trackRun(["diff", first, second]);

step(6, "The pull-request comment for it (what actions/compare posts)");
const comment = trackRun(["compare", second, "--policy", policy, "--markdown"], { show: false });
console.log(comment.out);

step(7, "The gate");
const gate = trackRun(["compare", second, "--policy", policy]);
console.log(
  gate.code === 0 ? "gate: PASS (exit 0)" : "gate: FAIL (exit 1): the candidate would not be promoted",
);

step(8, "Reproduce the production run from its manifest");
// The verdict rests on the outputs and the metrics the policy gates; the time per epoch differs on
// every run and is listed beside it.
const rep = trackRun(["reproduce", first, "--policy", policy], { json: true });
console.log(
  `reproduce: ${rep.out.verdict}${rep.out.reasons?.length ? ` (${rep.out.reasons.join("; ")})` : ""}`,
);
for (const d of rep.out.differences ?? []) console.log(`  also differs: ${d}`);

step(9, "The ledger");
trackRun(["log", "--model", "spam-filter"]);
const reproduced = rep.out.verdict === "bitwise" || rep.out.verdict === "within-tolerance";
console.log(
  `\nDone. ${promoted ? `Production is ${first}` : "Nothing went to production (the first model did not pass its gate)"}; the candidate ${second} ${gate.code === 0 ? "passes" : "does not pass"} the gate; the first run reproduces ${rep.out.verdict}.`,
);
process.exit(promoted && reproduced ? 0 : 1);
