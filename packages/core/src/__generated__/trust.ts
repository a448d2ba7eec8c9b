/* eslint-disable */
// Generated from schemas/trust.schema.json by `npm run codegen`. Do not edit: change the schema and regenerate.

/**
 * Who may sign a run (.track-run/trust.json): public keys, by PEM text or a path relative to the trust file.
 */
export interface TrustPolicy {
  keys: ({
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
}
