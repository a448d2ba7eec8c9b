// actions/bag: inputs -> core -> outputs, step summary, exit. Nothing else lives here.
import * as core from "@actions/core";
import { type BagReport, pinData, type ValidationMode, validateBag } from "@track-run/core/bag";
import { UsageError } from "@track-run/core/errors";
import { failStep } from "../../fail.js";

type Mode = "pin" | ValidationMode;

interface Inputs {
  path: string;
  mode: Mode;
}

function readInputs(): Inputs {
  const mode = (core.getInput("mode") || "pin").trim().toLowerCase();
  if (!["pin", "full", "validate", "fast", "completeness"].includes(mode)) {
    throw new UsageError("usage", `input mode "${mode}" must be pin, validate, fast or completeness`);
  }
  return {
    path: core.getInput("path", { required: true }),
    mode: mode === "validate" ? "full" : (mode as Mode),
  };
}

function problemsTable(report: BagReport): string {
  const rows = report.errors.map((e) => `| \`${e.file ?? ""}\` | ${e.message.replace(/\|/g, "\\|")} |`);
  return ["| file | problem |", "| --- | --- |", ...rows].join("\n");
}

async function run(): Promise<void> {
  const inputs = readInputs();
  if (inputs.mode === "pin") {
    const pin = await pinData(inputs.path);
    core.setOutput("valid", "true");
    core.setOutput("digest", pin.digest);
    core.setOutput("payload-oxum", pin.payloadOxum);
    core.setOutput("files", String(pin.files));
    core.setOutput("bytes", String(pin.bytes));
    for (const w of pin.warnings) core.warning(w);
    await core.summary
      .addHeading("Data pin", 3)
      .addTable([
        [
          { data: "path", header: true },
          { data: "digest", header: true },
          { data: "files", header: true },
          { data: "bytes", header: true },
        ],
        [inputs.path, `<code>${pin.digest}</code>`, String(pin.files), String(pin.bytes)],
      ])
      .write();
    core.info(`${inputs.path}: ${pin.digest} (${pin.files} files, ${pin.bytes} bytes)`);
    return;
  }
  const report = await validateBag(inputs.path, { mode: inputs.mode });
  core.setOutput("valid", String(report.valid));
  if (report.digest) core.setOutput("digest", report.digest);
  core.setOutput("payload-oxum", `${report.bytes}.${report.files}`);
  core.setOutput("files", String(report.files));
  core.setOutput("bytes", String(report.bytes));
  for (const w of report.warnings) core.warning(w);
  const summary = core.summary.addHeading(`Bag ${report.valid ? "valid" : "INVALID"}: ${inputs.path}`, 3);
  if (!report.valid) summary.addRaw(problemsTable(report), true);
  await summary.write();
  if (!report.valid) {
    for (const e of report.errors) core.error(`${e.file ? `${e.file}: ` : ""}${e.message}`);
    core.setFailed(`${inputs.path} is not a valid bag (${report.errors.length} problems)`);
  }
}

run().catch(failStep);
