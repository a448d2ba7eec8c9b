// Keyless identities: who a Fulcio certificate names, and whether a trust policy accepts it.
import type { TrustPolicy } from "../__generated__/index.js";

export type IdentityRule = NonNullable<TrustPolicy["identities"]>[number];

export interface SignerIdentity {
  issuer: string;
  subject: string;
  /** OWNER/REPO when the subject is a GitHub workflow identity. */
  repository?: string;
  /** OWNER/REPO/.github/workflows/FILE@REF when the subject is a GitHub workflow identity. */
  workflowRef?: string;
}

/** Splits a GitHub workflow SAN (https://github.com/OWNER/REPO/.github/workflows/FILE@REF) into its parts. */
export function describeIdentity(issuer: string, subject: string): SignerIdentity {
  const id: SignerIdentity = { issuer, subject };
  const m = /^https:\/\/github\.com\/([^/]+\/[^/]+)\/(\.github\/workflows\/[^@]+@.+)$/.exec(subject);
  if (m) {
    id.repository = m[1]!;
    id.workflowRef = `${m[1]}/${m[2]}`;
  }
  return id;
}

function glob(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const re = new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
  return re.test(value);
}

/** The first rule that accepts the identity, if any: issuer exact, every given pattern matching. */
export function matchIdentity(id: SignerIdentity, rules: readonly IdentityRule[]): IdentityRule | undefined {
  return rules.find(
    (r) =>
      r.issuer === id.issuer &&
      (r.subject === undefined || glob(r.subject, id.subject)) &&
      (r.repository === undefined || glob(r.repository, id.repository)) &&
      (r.workflowRef === undefined || glob(r.workflowRef, id.workflowRef)),
  );
}
