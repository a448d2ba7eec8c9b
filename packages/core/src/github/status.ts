// The commit status `track-run/<model>` carrying a gate verdict, so it can be a required check.
import { type GateVerdict, ruleName } from "../policy/gate.js";
import type { CommitState } from "./api.js";

export interface StatusInput {
  state: CommitState;
  context: string;
  description: string;
  target_url?: string;
}

/** GitHub keeps at most 140 characters of a status description. */
const DESCRIPTION_LIMIT = 140;

const num = (x: number) => String(Number(x.toPrecision(4)));

export function statusFor(verdict: GateVerdict, targetUrl?: string): StatusInput {
  const failed = verdict.rules.filter((r) => !r.pass);
  const lead = verdict.metrics
    .slice(0, 2)
    .map(
      (m) =>
        `${m.name} ${num(m.candidate.mean)}${m.delta !== undefined ? ` (${m.delta >= 0 ? "+" : ""}${num(m.delta)})` : ""}`,
    )
    .join(", ");
  let description = verdict.pass
    ? `passes${verdict.firstModel ? " (first model)" : ""}${lead ? `: ${lead}` : ""}`
    : `fails ${failed.map(ruleName).join(", ")}`;
  if (description.length > DESCRIPTION_LIMIT) description = `${description.slice(0, DESCRIPTION_LIMIT - 1)}…`;
  return {
    state: verdict.pass ? "success" : "failure",
    context: `track-run/${verdict.model}`,
    description,
    ...(targetUrl ? { target_url: targetUrl } : {}),
  };
}
