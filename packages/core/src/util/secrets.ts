// Secrets never reach a record, a log, a comment, an export or an error. One masker does it:
//  - a variable whose name looks secret (SECRET_NAME) has its value recorded as *** and its value
//    masked by value everywhere text is built from the run: log lines, metric names, curve keys,
//    output paths, the status reason, parameters, warnings and errors;
//  - a multi-line value (a PEM key) is masked whole and line by line, as a log shows it;
//  - a value shorter than MIN_SECRET_LENGTH is not masked (it would blank out ordinary text) and
//    is warned about;
//  - URLs lose their credentials: the user-info, and secret-looking parameters of the query and
//    the fragment (?access_token=…, #id_token=…, X-Amz-Signature=…).

/**
 * Names of variables whose values are secrets: any name containing one of these words, in any
 * case (`*KEY*`, `*PASS*`, `*PWD*`, `*TOKEN*`, `*SECRET*`, `*CREDENTIAL*`, `*AUTH*`, `*PRIVATE*`,
 * `*CERT*`, `*COOKIE*`, `*SESSION*`, `*SIGNATURE*`). docs/security.md states the same list.
 */
export const SECRET_NAME = /KEY|PASS|PWD|TOKEN|SECRET|CREDENTIAL|AUTH|PRIVATE|CERT|COOKIE|SESSION|SIGNATURE/i;

/** Values shorter than this are not masked (a 3-character value would blank out ordinary words). */
export const MIN_SECRET_LENGTH = 4;

/** What a masked value becomes. */
export const MASK = "***";

/** Whether a variable of this name holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** A value that is a secret whatever its name: a PEM private key block. */
export function looksSecret(value: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(value);
}

/**
 * Masks values in text. Built once per run from the secret values it knows; `mask` replaces every
 * occurrence of each value, of each line of a multi-line value, longest first.
 */
export class SecretMasker {
  /** The strings replaced, longest first. */
  readonly patterns: readonly string[];

  constructor(values: Iterable<string>) {
    const patterns = new Set<string>();
    for (const v of values) {
      if (v.length >= MIN_SECRET_LENGTH) patterns.add(v);
      if (/[\r\n]/.test(v)) {
        for (const line of v.split(/\r?\n|\r/)) {
          const t = line.trim();
          if (t.length >= MIN_SECRET_LENGTH) patterns.add(t);
        }
      }
    }
    this.patterns = [...patterns].sort((a, b) => b.length - a.length);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** `text` with every secret value replaced by ***. */
  mask(text: string): string {
    let out = text;
    for (const p of this.patterns) if (out.includes(p)) out = out.split(p).join(MASK);
    return out;
  }

  /** `text` masked, and every URL in it without credentials: for free text that lands in a record or a message. */
  scrub(text: string): string {
    return stripUrlCredentialsIn(this.mask(text));
  }

  /** A copy of a JSON-like value with every string (and object key) scrubbed. */
  maskDeep<T>(value: T): T {
    const visit = (v: unknown): unknown => {
      if (typeof v === "string") return this.scrub(v);
      if (Array.isArray(v)) return v.map(visit);
      if (v && typeof v === "object")
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.scrub(k), visit(x)]));
      return v;
    };
    return visit(value) as T;
  }
}

/**
 * The secrets among variables passed to a run: the values of secret-looking names (and any value
 * that is a private key), with a warning for each too short to mask.
 */
export function secretsOf(env: Readonly<Record<string, string>>): { values: string[]; warnings: string[] } {
  const values: string[] = [];
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!isSecretName(name) && !looksSecret(value)) continue;
    if (value.length === 0) continue;
    values.push(value);
    if (value.length < MIN_SECRET_LENGTH)
      warnings.push(
        `--env ${name}: its value is shorter than ${MIN_SECRET_LENGTH} characters, so it is recorded as *** but not masked in the log or elsewhere; use a longer secret`,
      );
  }
  return { values, warnings };
}

/** A URL parameter that carries a credential: by its name, or by a value that is a known token. */
function secretParameter(name: string, value: string): boolean {
  return isSecretName(name) || /^(sig|signature|code|jwt|sas)$/i.test(name) || knownToken(value);
}

/** Tokens of well-known services, recognisable by their form whatever they are called. */
function knownToken(value: string): boolean {
  return /^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.test(
    value,
  );
}

/** `a=1&token=x` without its secret parameters; undefined when nothing is left. */
function cleanParameters(text: string): string | undefined {
  const kept = text
    .split("&")
    .filter((part) => {
      if (!part) return false;
      const eq = part.indexOf("=");
      const name = decodeSafely(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? "" : decodeSafely(part.slice(eq + 1));
      return eq < 0 ? !knownToken(name) : !secretParameter(name, value);
    })
    .join("&");
  return kept || undefined;
}

function decodeSafely(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

/**
 * A URL (or git remote) without credentials: `https://x-access-token:TOKEN@github.com/o/r` becomes
 * `https://github.com/o/r`; `?access_token=…`, `#id_token=…` and other secret-looking parameters
 * are removed, and a fragment that is a known token goes whole. scp-like remotes (`git@host:path`)
 * keep their user name, which is not a secret; a password in that form (`user:pw@host:path`) is
 * dropped. Anything else is returned trimmed.
 */
export function stripCredentials(remote: string): string {
  const trimmed = remote.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    const hash = trimmed.indexOf("#");
    const beforeHash = hash < 0 ? trimmed : trimmed.slice(0, hash);
    const fragment = hash < 0 ? undefined : trimmed.slice(hash + 1);
    const q = beforeHash.indexOf("?");
    let base = q < 0 ? beforeHash : beforeHash.slice(0, q);
    const query = q < 0 ? undefined : beforeHash.slice(q + 1);
    // The user-info: everything between "//" and the first "@" of the authority.
    base = base.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, "$1");
    const cleanQuery = query === undefined ? undefined : cleanParameters(query);
    let cleanFragment: string | undefined;
    if (fragment !== undefined) {
      cleanFragment = fragment.includes("=")
        ? cleanParameters(fragment)
        : knownToken(decodeSafely(fragment))
          ? undefined
          : fragment;
    }
    return `${base}${cleanQuery ? `?${cleanQuery}` : ""}${cleanFragment !== undefined && cleanFragment !== "" ? `#${cleanFragment}` : ""}`;
  }
  const scp = /^([^@/:]+)(?::[^@/]*)?@([^:/]+):(.*)$/.exec(trimmed);
  if (scp) return `${scp[1]}@${scp[2]}:${scp[3]}`;
  return trimmed;
}

/** Replaces every occurrence of each secret in `text` with *** (multi-line values line by line too). */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  return new SecretMasker(secrets).mask(text);
}

/** Every URL inside free text (a message, a log line) without its credentials. */
export function stripUrlCredentialsIn(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi, (url) => stripCredentials(url));
}
