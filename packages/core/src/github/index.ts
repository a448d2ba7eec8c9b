export {
  type CommitState,
  type GitHubApi,
  httpStatus,
  type IssueComment,
  permissionDenied,
} from "./api.js";
export {
  ATTESTATION_PERMISSION_FIX,
  type AttestationResult,
  type AttestationStore,
  type AttestationTarget,
  notStorable,
  storeAttestation,
} from "./attestation.js";
export { type UpsertResult, upsertComment } from "./comment.js";
export { workflowRunFromEnvironment } from "./context.js";
export { type StatusInput, statusFor } from "./status.js";
