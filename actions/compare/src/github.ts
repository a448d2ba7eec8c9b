// The GitHubApi that core uses, built from Octokit (@actions/github) with the workflow token.
// GITHUB_API_URL (set by the runner; GitHub Enterprise or a local server) decides where it goes.
import { getOctokit } from "@actions/github";
import type { GitHubApi } from "@track-run/core/github";

export function octokitApi(token: string, repo: { owner: string; repo: string }): GitHubApi {
  const octokit = getOctokit(token);
  return {
    listComments: (issue) =>
      octokit.paginate(octokit.rest.issues.listComments, { ...repo, issue_number: issue, per_page: 100 }),
    createComment: async (issue, body) =>
      (await octokit.rest.issues.createComment({ ...repo, issue_number: issue, body })).data,
    updateComment: async (id, body) =>
      (await octokit.rest.issues.updateComment({ ...repo, comment_id: id, body })).data,
    deleteComment: async (id) => {
      await octokit.rest.issues.deleteComment({ ...repo, comment_id: id });
    },
    createStatus: async (sha, status) => {
      await octokit.rest.repos.createCommitStatus({ ...repo, sha, ...status });
    },
  };
}
