// Facts of the GitHub Actions run, from the environment the caller passes (core reads no process.env).

/** The run's address (GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID); undefined outside Actions. */
export function workflowRunFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (!env.GITHUB_RUN_ID || !env.GITHUB_REPOSITORY) return undefined;
  return `${env.GITHUB_SERVER_URL ?? "https://github.com"}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
}
