// The GitHub REST calls track-run makes, as a small interface: the actions build it from
// Octokit (with the workflow token); tests point the same client at a local API server.

export interface IssueComment {
  id: number;
  body?: string | undefined;
  html_url?: string | undefined;
}

export type CommitState = "error" | "failure" | "pending" | "success";

export interface GitHubApi {
  /** Every comment on an issue or pull request, oldest first (all pages). */
  listComments(issue: number): Promise<IssueComment[]>;
  createComment(issue: number, body: string): Promise<IssueComment>;
  updateComment(id: number, body: string): Promise<IssueComment>;
  deleteComment(id: number): Promise<void>;
  createStatus(
    sha: string,
    status: { state: CommitState; context: string; description: string; target_url?: string },
  ): Promise<void>;
}

/** The HTTP status of an error thrown by a GitHub client (Octokit's RequestError has `status`). */
export function httpStatus(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "status" in e && typeof e.status === "number"
    ? e.status
    : undefined;
}

/**
 * Why a write was refused, when the token may not write: a fork's pull request gets a read-only
 * GITHUB_TOKEN (403 "Resource not accessible by integration"); a missing permission too.
 */
export function permissionDenied(e: unknown): string | undefined {
  const status = httpStatus(e);
  if (status !== 403 && status !== 401) return undefined;
  const message = e instanceof Error ? e.message.split(" - ")[0]!.trim() : "forbidden";
  return `the token may not write here (HTTP ${status}: ${message}). A pull request from a fork gets a read-only GITHUB_TOKEN; otherwise grant the job "pull-requests: write" and "statuses: write"`;
}
