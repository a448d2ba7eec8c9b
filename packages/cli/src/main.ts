import { registerBag } from "./commands/bag.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerLedger } from "./commands/ledger.js";
import { registerPin } from "./commands/pin.js";
import { registerReproduce } from "./commands/reproduce.js";
import { registerRun } from "./commands/run.js";
import { registerSign } from "./commands/sign.js";
import { CommanderError, commanderExitCode, makeProgram } from "./program.js";

export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const { program, run } = makeProgram((c) => {
    code = c;
  });
  registerBag(program, run);
  registerDoctor(program, run);
  registerPin(program, run);
  registerLedger(program, run);
  registerRun(program, run);
  registerReproduce(program, run);
  registerSign(program, run);
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return commanderExitCode(e);
    throw e;
  }
  return code;
}

process.exitCode = await main(process.argv.slice(2));
