import type { Command } from "commander";
import { registerAttest } from "./commands/attest.js";
import { registerBag } from "./commands/bag.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerInvalidate } from "./commands/invalidate.js";
import { registerLedger } from "./commands/ledger.js";
import { registerPin } from "./commands/pin.js";
import { registerPull } from "./commands/pull.js";
import { registerQuery } from "./commands/query.js";
import { registerReproduce } from "./commands/reproduce.js";
import { registerRun } from "./commands/run.js";
import { registerSign } from "./commands/sign.js";
import { registerVerifyArtifact } from "./commands/verify-artifact.js";
import { reportError } from "./output.js";
import { CommanderError, commanderExitCode, makeProgram } from "./program.js";

const HELP_FLAGS = new Set(["-h", "--help"]);

/**
 * With --help anywhere, Commander prints the help of the deepest command it recognised and exits 0,
 * so `track-run nosuch --help` would show the global help. The words before the first option are
 * walked here: an unknown (sub)command is named, with exit 2, as it is without --help.
 */
function unknownCommandWithHelp(program: Command, argv: readonly string[]): string | undefined {
  if (!argv.some((a) => HELP_FLAGS.has(a))) return undefined;
  let cmd = program;
  for (const word of argv) {
    if (word.startsWith("-")) return undefined;
    if (cmd.commands.length === 0 || word === "help") return undefined;
    const next = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) return word;
    cmd = next;
  }
  return undefined;
}

/**
 * Output piped into a reader that closes early (`track-run log | head -1`) is not an error: what
 * is left to print is dropped, quietly, and the command ends with its own exit code.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED") {
      stream.write = (() => true) as typeof stream.write;
      return;
    }
    throw e;
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const { program, run } = makeProgram((c) => {
    code = c;
  });
  registerAttest(program, run);
  registerBag(program, run);
  registerDoctor(program, run);
  registerPin(program, run);
  registerLedger(program, run);
  registerQuery(program, run);
  registerPull(program, run);
  registerInvalidate(program, run);
  registerRun(program, run);
  registerReproduce(program, run);
  registerSign(program, run);
  registerVerifyArtifact(program, run);
  const unknown = unknownCommandWithHelp(program, argv);
  // Parsed without the help flag, Commander names the unknown command (with a suggestion) and exits 2.
  const args = unknown === undefined ? [...argv] : argv.filter((a) => !HELP_FLAGS.has(a));
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return commanderExitCode(e);
    throw e;
  }
  return code;
}

/** Runs the command line as the process: exit code set, pipes and stray errors handled. */
export async function runProcess(argv: readonly string[]): Promise<void> {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  // A promise or callback that fails outside any command's own handling: one line (a file-system
  // error names its path, exit 2), never Node's trace of its internals.
  const fatal = (e: unknown) => {
    process.exit(reportError(e, false));
  };
  process.on("unhandledRejection", fatal);
  process.on("uncaughtException", fatal);
  try {
    process.exitCode = await main(argv);
  } catch (e) {
    process.exitCode = reportError(e, false);
  }
}

await runProcess(process.argv.slice(2));
