// How an action signs what it records, from its inputs: signing-key (a secret PEM), keyless
// (Sigstore with the job's OIDC token), or unsigned; tsa-url timestamps key-signed records and
// rekor-url logs them in Rekor. One place for every action.
import * as core from "@actions/core";
import { UsageError } from "@track-run/core/errors";
import { loadCommonJs } from "@track-run/core/interop";
import { parsePrivateKey, type SigningPlan } from "@track-run/core/sign";

export const flag = (name: string) => core.getInput(name).trim().toLowerCase() === "true";

/** `what` names the record in the error when no way to sign is given ("the run", "the promotion"). */
export async function signingPlan(what: string): Promise<SigningPlan> {
  if (flag("unsigned")) return { unsigned: true };
  const plan: SigningPlan = {};
  const pem = core.getInput("signing-key");
  if (pem) {
    // The runner masks line by line: register every line of the key's body.
    for (const line of pem.split(/\r?\n/))
      if (line.trim() && !line.startsWith("-----")) core.setSecret(line.trim());
    plan.key = parsePrivateKey(pem, "input signing-key");
  }
  if (flag("keyless")) {
    const { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL } = await loadCommonJs(() => import("sigstore"));
    plan.keyless = {
      fulcioURL: process.env.TRACK_RUN_FULCIO_URL ?? DEFAULT_FULCIO_URL,
      rekorURL: process.env.TRACK_RUN_REKOR_URL ?? DEFAULT_REKOR_URL,
      getToken: () => core.getIDToken("sigstore"),
    };
  }
  // A key-signed record gets an RFC 3161 timestamp when a timestamp authority is given; one that
  // cannot be reached costs a warning, never the record.
  const tsa = core.getInput("tsa-url").trim() || process.env.TRACK_RUN_TSA_URL;
  if (plan.key && tsa) {
    if (!/^https?:\/\/[^/@\s]+/.test(tsa))
      throw new UsageError(
        "bad-tsa",
        `input tsa-url "${tsa}" is not an http(s) URL of a timestamp authority`,
      );
    plan.tsa = { url: tsa, onWarning: (m) => core.warning(m) };
  }
  // Logged in Rekor when one is given, so Sigstore clients verify it at their default thresholds.
  const rekor = core.getInput("rekor-url").trim() || process.env.TRACK_RUN_REKOR_URL;
  if (plan.key && rekor) {
    if (!/^https?:\/\/[^/@\s]+/.test(rekor))
      throw new UsageError("bad-rekor", `input rekor-url "${rekor}" is not an http(s) URL of a Rekor`);
    plan.rekor = { url: rekor, onWarning: (m) => core.warning(m) };
  }
  if (!plan.key && !plan.keyless) {
    throw new UsageError(
      "no-signing",
      `no way to sign ${what}: pass \`signing-key: \${{ secrets.… }}\`, or \`keyless: true\` with \`permissions: id-token: write\`, or \`unsigned: true\``,
    );
  }
  return plan;
}
