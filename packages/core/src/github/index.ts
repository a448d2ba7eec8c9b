export {
  type CommitState,
  type GitHubApi,
  httpStatus,
  type IssueComment,
  permissionDenied,
} from "./api.js";
export { type UpsertResult, upsertComment } from "./comment.js";
export { workflowRunFromEnvironment } from "./context.js";
export { type StatusInput, statusFor } from "./status.js";
