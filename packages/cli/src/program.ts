import { Command, CommanderError, Option } from "commander";
import { makeOutput, type Output, reportError } from "./output.js";

export const VERSION = "0.1.0";

/** Runs a command body with the shared --json/error/exit-code handling. */
export type CommandRunner = (
  opts: { json?: boolean },
  body: (out: Output) => Promise<number>,
) => Promise<void>;

export function jsonOption(): Option {
  return new Option("--json", "print a machine-readable result on stdout");
}

export function makeProgram(setExitCode: (code: number) => void): { program: Command; run: CommandRunner } {
  const program = new Command("track-run")
    .description(
      "Reproducible, accountable ML training runs: pin code, data and environment, sign provenance, gate promotion, reproduce.",
    )
    .version(VERSION, "-V, --version")
    .showSuggestionAfterError()
    .exitOverride()
    .configureHelp({ sortSubcommands: true, showGlobalOptions: true })
    .addHelpText(
      "after",
      "\nExit codes: 0 success or pass; 1 a check failed; 2 bad usage or unreadable input.\nRun `track-run <command> --help` for a command's options.",
    );
  const run: CommandRunner = async (opts, body) => {
    const out = makeOutput(Boolean(opts.json));
    try {
      setExitCode(await body(out));
    } catch (e) {
      setExitCode(reportError(e, Boolean(opts.json)));
    }
  };
  return { program, run };
}

/** Commander's own exits: help and version are 0, every usage problem is 2. */
export function commanderExitCode(e: CommanderError): number {
  switch (e.code) {
    case "commander.helpDisplayed":
    case "commander.version":
      return 0;
    case "commander.help":
      // `track-run help bag` asked for it (0); help shown for a command missing its subcommand is usage (2).
      return e.exitCode === 0 ? 0 : 2;
    default:
      return 2;
  }
}

export { CommanderError };
