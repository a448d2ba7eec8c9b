// One sticky comment per model on a pull request: found by its hidden marker, updated in place,
// and never left duplicated when two jobs post at once.
import { type GitHubApi, httpStatus, type IssueComment } from "./api.js";

export interface UpsertResult {
  action: "created" | "updated";
  comment: IssueComment;
  /** Duplicate comments (from an earlier or concurrent race) that were removed. */
  removed: number[];
}

const carries = (marker: string) => (c: IssueComment) => c.body?.startsWith(marker) === true;

async function removeAll(api: GitHubApi, ids: readonly number[]): Promise<number[]> {
  const removed: number[] = [];
  for (const id of ids) {
    try {
      await api.deleteComment(id);
      removed.push(id);
    } catch (e) {
      // Another job removed it first.
      if (httpStatus(e) !== 404) throw e;
    }
  }
  return removed;
}

/**
 * Writes `body` (which begins with `marker`) as the one comment carrying `marker` on `issue`.
 * The comment kept is always the oldest carrying the marker, so jobs racing each other agree
 * on it: a job that created a newer one moves its body onto the oldest and deletes its own.
 */
export async function upsertComment(
  api: GitHubApi,
  issue: number,
  marker: string,
  body: string,
): Promise<UpsertResult> {
  if (!body.startsWith(marker)) throw new Error("upsertComment: the body must begin with its marker");
  const existing = (await api.listComments(issue)).filter(carries(marker)).sort((a, b) => a.id - b.id);
  if (existing.length > 0) {
    const keeper = existing[0]!;
    const comment = await api.updateComment(keeper.id, body);
    return {
      action: "updated",
      comment,
      removed: await removeAll(
        api,
        existing.slice(1).map((c) => c.id),
      ),
    };
  }
  const mine = await api.createComment(issue, body);
  // Another job may have created one at the same moment: settle on the oldest.
  const now = (await api.listComments(issue)).filter(carries(marker)).sort((a, b) => a.id - b.id);
  const keeper = now[0];
  if (!keeper || keeper.id === mine.id) {
    return {
      action: "created",
      comment: mine,
      removed: await removeAll(
        api,
        now.slice(1).map((c) => c.id),
      ),
    };
  }
  const comment = await api.updateComment(keeper.id, body);
  const removed = await removeAll(
    api,
    now.filter((c) => c.id !== keeper.id).map((c) => c.id),
  );
  return { action: "updated", comment, removed };
}
