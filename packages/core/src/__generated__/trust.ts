/* eslint-disable */
// Generated from schemas/trust.schema.json by `npm run codegen`. Do not edit: change the schema and regenerate.

/**
 * Who may sign a run (.track-run/trust.json): public keys (PEM text or a path relative to the trust file), and keyless identities (OIDC issuer plus patterns over the certificate's subject, e.g. the GitHub repository and workflow).
 */
export type TrustPolicy = {
  [k: string]: unknown;
} & {
  keys?: ({
    [k: string]: unknown;
  } & {
    /**
     * Who holds the key, for messages.
     */
    name?: string;
    /**
     * Expected key id (sha256 of the DER SPKI), checked against the key.
     */
    keyId?: string;
    /**
     * PEM text of the public key.
     */
    publicKey?: string;
    /**
     * Path of a PEM public key, relative to the trust file.
     */
    path?: string;
  })[];
  identities?: ({
    [k: string]: unknown;
  } & {
    name?: string;
    /**
     * OIDC issuer, exactly (GitHub Actions: https://token.actions.githubusercontent.com).
     */
    issuer: string;
    /**
     * Pattern over the certificate's subject (SAN); * matches any characters.
     */
    subject?: string;
    /**
     * Pattern over OWNER/REPO of a GitHub workflow identity.
     */
    repository?: string;
    /**
     * Pattern over OWNER/REPO/.github/workflows/FILE@REF of a GitHub workflow identity.
     */
    workflowRef?: string;
  })[];
};
