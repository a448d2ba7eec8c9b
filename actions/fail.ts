// How every action ends on an error: the message on the step (with one line per problem), and the
// exit code of DESIGN.md: 2 for bad usage or unreadable input, 1 for a failed check; a stack for a bug.
import * as core from "@actions/core";
import { isTrackRunError } from "@track-run/core/errors";

export function failStep(e: unknown): void {
  if (isTrackRunError(e)) {
    core.setFailed([e.message, ...e.details].join("\n"));
    process.exitCode = e.exitCode;
  } else if (e instanceof Error && e.message.startsWith("Input required and not supplied:")) {
    // @actions/core's own check of a required input: bad usage, one line.
    core.setFailed(e.message);
    process.exitCode = 2;
  } else core.setFailed(e instanceof Error ? (e.stack ?? e.message) : String(e));
}
