// `track-run attest RUN`: a recorded run's signed bundle into GitHub's attestation store, for
// users outside Actions (or a run recorded before the action stored it). The record is read
// through the verified reader: only a signed record this machine trusts is stored.
import { CheckFailedError, UsageError } from "@track-run/core/errors";
import type { AttestationStore } from "@track-run/core/github";
import { assertName } from "@track-run/core/names";
import type { Command } from "commander";
import type { Output } from "../output.js";
import { type CommandRunner, jsonOption } from "../program.js";
import { openReader, type TrustFlags, withTrustOptions } from "./ledger.js";

interface AttestFlags extends TrustFlags {
  ledger?: string;
  repo?: string;
  tokenEnv: string;
  json?: boolean;
}

/** POST /repos/{owner}/{repo}/attestations with fetch: the request actions/attest makes. */
export function fetchAttestationStore(o: {
  apiUrl: string;
  token: string;
  owner: string;
  repo: string;
}): AttestationStore {
  const url = `${o.apiUrl.replace(/\/+$/, "")}/repos/${encodeURIComponent(o.owner)}/${encodeURIComponent(o.repo)}/attestations`;
  return {
    async createAttestation(bundle) {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          accept: "application/vnd.github+json",
          authorization: `Bearer ${o.token}`,
          "content-type": "application/json",
          "user-agent": "track-run",
          "x-github-api-version": "2022-11-28",
        },
        body: JSON.stringify({ bundle }),
      });
      const text = await res.text();
      let body: { id?: unknown; message?: unknown } = {};
      try {
        body = text ? (JSON.parse(text) as typeof body) : {};
      } catch {
        // A proxy's page, not GitHub's JSON: the status says enough.
      }
      if (!res.ok)
        throw Object.assign(
          new Error(typeof body.message === "string" ? body.message : res.statusText || "request failed"),
          { status: res.status },
        );
      if (typeof body.id !== "number")
        throw Object.assign(new Error("GitHub answered without an attestation id"), { status: res.status });
      return { id: body.id };
    },
  };
}

async function attestCommand(runArg: string, flags: AttestFlags, out: Output): Promise<number> {
  const runId = assertName("run", runArg, "attest RUN");
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags.tokenEnv))
    throw new UsageError("usage", `--token-env "${flags.tokenEnv}" is not an environment variable name`);
  const token = process.env[flags.tokenEnv];
  if (!token)
    throw new UsageError(
      "no-token",
      `no GitHub token: set ${flags.tokenEnv} (a token that may write attestations: a fine-grained token with Attestations: write, or a workflow's GITHUB_TOKEN with \`permissions: attestations: write\`)`,
    );
  const repository = flags.repo ?? process.env.GITHUB_REPOSITORY ?? "";
  const [owner, repo, extra] = repository.split("/");
  if (!owner || !repo || extra !== undefined)
    throw new UsageError(
      "usage",
      repository
        ? `--repo "${repository}" is not OWNER/REPO`
        : "no repository: pass --repo OWNER/REPO (or set GITHUB_REPOSITORY)",
    );

  const reader = await openReader(flags);
  // The bundle as stored (a record read from the index has none of its own).
  const record = await reader.requireDocument(runId);
  if (record.trust !== "verified") {
    const why =
      record.trust === "unsigned"
        ? "it is recorded unsigned, and an unsigned record is never stored as an attestation"
        : `its signature does not verify against the trust here (${record.problems.join("; ")})`;
    throw new CheckFailedError("not-attestable", `run ${runId} is not stored as an attestation: ${why}`);
  }
  const { storeAttestation } = await import("@track-run/core/github");
  const store = fetchAttestationStore({
    apiUrl: process.env.GITHUB_API_URL ?? "https://api.github.com",
    token,
    owner,
    repo,
  });
  const r = await storeAttestation(store, record.document, {
    owner,
    repo,
    serverUrl: process.env.GITHUB_SERVER_URL ?? "https://github.com",
  });
  const subjects = record.manifest.outputs.length;
  if (!r.stored) {
    out.warn(`track-run: run ${runId} was not stored as a GitHub attestation: ${r.reason}`);
    out.result({ runId, stored: false, reason: r.reason }, () => "");
    return 1;
  }
  out.result(
    { runId, stored: true, id: r.id, url: r.url, subjects },
    () =>
      `run ${runId}: attestation ${r.id} stored for ${subjects} output${subjects === 1 ? "" : "s"}\n${r.url}`,
  );
  return 0;
}

export function registerAttest(program: Command, run: CommandRunner): void {
  withTrustOptions(
    program
      .command("attest")
      .description(
        "store a recorded run's signed bundle in GitHub's attestation store, so `gh attestation verify FILE --repo OWNER/REPO` finds it by any output's digest",
      )
      .argument("<RUN>", "a run id in the ledger")
      .option("--repo <OWNER/REPO>", "the repository to store it in (default $GITHUB_REPOSITORY)")
      .option(
        "--token-env <NAME>",
        "environment variable holding a token that may write attestations",
        "GITHUB_TOKEN",
      ),
  )
    .addOption(jsonOption())
    .addHelpText(
      "after",
      "\nGITHUB_API_URL (default https://api.github.com) and GITHUB_SERVER_URL (default https://github.com) name a GitHub Enterprise server.",
    )
    .action((runArg: string, flags: AttestFlags) => run(flags, (out) => attestCommand(runArg, flags, out)));
}
