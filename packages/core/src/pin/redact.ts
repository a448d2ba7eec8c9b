// Credentials never reach a manifest, a log or a message: remote URLs lose their user-info.

/**
 * Removes credentials from a git remote or any URL: `https://x-access-token:TOKEN@github.com/o/r`
 * becomes `https://github.com/o/r`. scp-like remotes (`git@host:path`) keep their user name, which
 * is not a secret; a password in that form (`user:pw@host:path`) is dropped.
 */
export function stripCredentials(remote: string): string {
  const trimmed = remote.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    try {
      const u = new URL(trimmed);
      u.username = "";
      u.password = "";
      return u.toString();
    } catch {
      return trimmed.replace(/\/\/[^@/]*@/, "//");
    }
  }
  const scp = /^([^@/:]+)(?::[^@/]*)?@([^:/]+):(.*)$/.exec(trimmed);
  if (scp) return `${scp[1]}@${scp[2]}:${scp[3]}`;
  return trimmed;
}

/** Replaces every occurrence of each secret in `text` with ***. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("***");
  return out;
}
