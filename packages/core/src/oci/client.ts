// A small client for the OCI distribution spec calls track-run needs, over Node's fetch: blobs
// (HEAD, monolithic or chunked upload, GET checked against its digest), manifests (PUT, GET), tags
// and referrers (the referrers API, else the referrers tag schema). Authentication follows the
// registry's WWW-Authenticate challenge: Basic, or Bearer tokens from the named realm (with the
// credentials as Basic, or anonymous). Idempotent calls are retried with backoff on 5xx, 429 and
// dropped connections; an upload that fails is started again as a whole (an upload session's state
// after a dropped request is unknown). Credentials never appear in a message.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { Readable } from "node:stream";
import { TrackRunError } from "../errors.js";
import type { RegistryCredentials } from "./credentials.js";
import { formatOciReference, type OciReference } from "./reference.js";

export const MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const MEDIA_INDEX = "application/vnd.oci.image.index.v1+json";
export const MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const MANIFEST_ACCEPT = [MEDIA_MANIFEST, MEDIA_INDEX, MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST].join(", ");
/** The most bytes a manifest or index read from a registry may have (as containerd limits them). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface OciClientOptions {
  credentials?: RegistryCredentials;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
  /** Attempts after the first for a failed call (5xx, 429, dropped connection); default 4. */
  retries?: number;
  /** The first wait between attempts, doubled each time; default 250 ms. */
  backoffMs?: number;
  /** Blobs larger than this are uploaded in chunks of this size; default 64 MiB. */
  chunkSize?: number;
  /** Told of each retry, with the reason (no credentials in it). */
  onRetry?: (message: string) => void;
}

export type BlobSource = { bytes: Uint8Array } | { path: string };

/** A registry refused or failed a call after the retries; exit 2 (the registry or its address is the input to fix). */
export class RegistryError extends TrackRunError {
  constructor(
    message: string,
    readonly status?: number,
    options: { cause?: unknown } = {},
  ) {
    super("registry-error", message, { kind: "usage", ...options });
    this.name = "RegistryError";
  }
}

class Retryable extends Error {}

interface Call {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH";
  /** A path under /v2/ of the repository (e.g. "blobs/sha256:…"), or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  body?: () => RequestBody;
  /** Idempotent calls are retried here; upload steps are retried by their caller as a whole. */
  retry: boolean;
  what: string;
}

type RequestBody = NonNullable<RequestInit["body"]>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class OciClient {
  private readonly fetch: typeof fetch;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly chunkSize: number;
  /** The Authorization header once a challenge was answered (Basic, or a Bearer token). */
  private auth?: string;

  constructor(
    readonly ref: OciReference,
    private readonly o: OciClientOptions = {},
  ) {
    this.fetch = o.fetch ?? globalThis.fetch;
    this.retries = o.retries ?? 4;
    this.backoffMs = o.backoffMs ?? 250;
    this.chunkSize = o.chunkSize ?? 64 * 1024 * 1024;
  }

  get where(): string {
    return formatOciReference(this.ref);
  }

  private url(path: string): string {
    if (/^https?:\/\//.test(path)) return path;
    return `${this.ref.baseUrl}/v2/${this.ref.repository}/${path}`;
  }

  /** One call, authenticated on demand; retried (when idempotent) on 5xx, 429 and network errors. */
  private async call(c: Call): Promise<Response> {
    let authTried = false;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        const headers: Record<string, string> = { ...(c.headers ?? {}) };
        if (this.auth) headers.authorization = this.auth;
        const body = c.body?.();
        res = await this.fetch(this.url(c.path), {
          method: c.method,
          headers,
          ...(body !== undefined ? { body, duplex: "half" } : {}),
          redirect: "follow",
        } as RequestInit);
      } catch (e) {
        if (!c.retry || attempt >= this.retries)
          throw new RegistryError(
            `${c.what} at ${this.where} failed: the connection to ${this.ref.registry} failed (${netReason(e)})`,
            undefined,
            { cause: e },
          );
        await this.wait(attempt, `${c.what}: connection failed (${netReason(e)})`);
        continue;
      }
      if (res.status === 401 && !authTried) {
        authTried = true;
        await res.body?.cancel();
        await this.authenticate(res.headers.get("www-authenticate"), c.what);
        attempt--;
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && c.retry && attempt < this.retries) {
        await res.body?.cancel();
        await this.wait(attempt, `${c.what}: the registry answered ${res.status}`);
        continue;
      }
      return res;
    }
  }

  private async wait(attempt: number, reason: string): Promise<void> {
    const ms = this.backoffMs * 2 ** attempt;
    this.o.onRetry?.(`${reason}; retrying in ${ms} ms`);
    await sleep(ms);
  }

  private async authenticate(challenge: string | null, what: string): Promise<void> {
    const creds = this.o.credentials;
    const parsed = challenge ? parseChallenge(challenge) : undefined;
    const noCreds = `; give credentials as TRACK_RUN_REGISTRY_USER and TRACK_RUN_REGISTRY_PASSWORD, or log in (~/.docker/config.json)`;
    if (!parsed)
      throw new RegistryError(
        `${what} at ${this.where}: the registry asks for authentication${noCreds}`,
        401,
      );
    if (parsed.scheme === "basic") {
      if (!creds)
        throw new RegistryError(
          `${what} at ${this.where}: the registry needs a user and password${noCreds}`,
          401,
        );
      this.auth = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      return;
    }
    const realm = parsed.params.realm;
    if (!realm)
      throw new RegistryError(
        `${what} at ${this.where}: the registry's Bearer challenge names no realm`,
        401,
      );
    const u = new URL(realm);
    if (parsed.params.service) u.searchParams.set("service", parsed.params.service);
    u.searchParams.set("scope", parsed.params.scope ?? `repository:${this.ref.repository}:pull,push`);
    const headers: Record<string, string> = {};
    if (creds)
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
    let res: Response;
    try {
      res = await this.fetch(u, { headers });
    } catch (e) {
      throw new RegistryError(
        `${what} at ${this.where}: the token service ${u.host} cannot be reached (${netReason(e)})`,
        undefined,
        { cause: e },
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError(
        `${what} at ${this.where}: the token service refused ${creds ? "the credentials" : "anonymous access"} (${res.status})${creds ? "" : noCreds}`,
        res.status,
      );
    }
    const doc = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = doc.token ?? doc.access_token;
    if (!token) throw new RegistryError(`${what} at ${this.where}: the token service returned no token`);
    this.auth = `Bearer ${token}`;
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = await res.text().catch(() => "");
    let detail = "";
    try {
      const errs = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors;
      if (errs?.length)
        detail = `: ${errs.map((e) => `${e.code ?? ""} ${e.message ?? ""}`.trim()).join("; ")}`;
    } catch {
      // not the spec's error body
    }
    const hint =
      res.status === 401 || res.status === 403
        ? this.o.credentials
          ? " (the credentials are refused or lack the permission)"
          : " (give credentials as TRACK_RUN_REGISTRY_USER and TRACK_RUN_REGISTRY_PASSWORD)"
        : "";
    throw new RegistryError(
      `${what} at ${this.where} failed: ${res.status} ${res.statusText}${detail}${hint}`,
      res.status,
    );
  }

  /** True when the repository holds the blob. */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.call({
      method: "HEAD",
      path: `blobs/${digest}`,
      retry: true,
      what: `looking for blob ${digest}`,
    });
    await res.body?.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail(res, `looking for blob ${digest}`);
  }

  /**
   * Uploads a blob unless the repository has it: monolithic (POST, then PUT with the bytes) up to
   * the chunk size, else chunked (PATCH with Content-Range, then PUT). A failed upload is started
   * again from the beginning, up to the retries.
   */
  async pushBlob(desc: { digest: string; size: number }, source: BlobSource): Promise<void> {
    const what = `uploading blob ${desc.digest}`;
    for (let attempt = 0; ; attempt++) {
      if (await this.hasBlob(desc.digest)) return;
      try {
        await this.uploadOnce(desc, source, what);
        return;
      } catch (e) {
        if (!(e instanceof Retryable) || attempt >= this.retries) {
          if (e instanceof Retryable)
            throw new RegistryError(`${what} at ${this.where} failed: ${e.message}`);
          throw e;
        }
        await this.wait(attempt, `${what}: ${e.message}`);
      }
    }
  }

  private async uploadOnce(
    desc: { digest: string; size: number },
    source: BlobSource,
    what: string,
  ): Promise<void> {
    const step = async (c: Omit<Call, "retry" | "what">): Promise<Response> => {
      let res: Response;
      try {
        res = await this.call({ ...c, retry: false, what });
      } catch (e) {
        if (e instanceof RegistryError && e.status === undefined) throw new Retryable(e.message);
        throw e;
      }
      if (res.status >= 500 || res.status === 429) {
        await res.body?.cancel();
        throw new Retryable(`the registry answered ${res.status}`);
      }
      return res;
    };
    const started = await step({ method: "POST", path: "blobs/uploads/" });
    if (started.status !== 202) return this.fail(started, what);
    await started.body?.cancel();
    let location = this.location(started);
    const body = (start: number, end: number) => () => bodyOf(source, start, end);
    if (desc.size <= this.chunkSize) {
      const res = await step({
        method: "PUT",
        path: withDigest(location, desc.digest),
        headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
        body: body(0, desc.size),
      });
      if (res.status !== 201) return this.fail(res, what);
      await res.body?.cancel();
      return;
    }
    for (let start = 0; start < desc.size; start += this.chunkSize) {
      const end = Math.min(desc.size, start + this.chunkSize);
      const res = await step({
        method: "PATCH",
        path: location,
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(end - start),
          "content-range": `${start}-${end - 1}`,
        },
        body: body(start, end),
      });
      if (res.status !== 202) return this.fail(res, what);
      await res.body?.cancel();
      location = this.location(res);
    }
    const done = await step({
      method: "PUT",
      path: withDigest(location, desc.digest),
      headers: { "content-length": "0" },
    });
    if (done.status !== 201) return this.fail(done, what);
    await done.body?.cancel();
  }

  private location(res: Response): string {
    const loc = res.headers.get("location");
    if (!loc) throw new RegistryError(`the registry at ${this.where} gave no upload location`);
    return new URL(loc, this.ref.baseUrl).toString();
  }

  /**
   * Downloads a blob to `dest`, hashing it on the way: the file is kept only when its sha256 is
   * the digest asked for (and, when given, its size). A dropped download is started again.
   */
  async fetchBlob(digest: string, dest: string, size?: number): Promise<void> {
    const what = `downloading blob ${digest}`;
    for (let attempt = 0; ; attempt++) {
      const res = await this.call({ method: "GET", path: `blobs/${digest}`, retry: true, what });
      if (res.status !== 200 || !res.body) return this.fail(res, what);
      const hash = createHash("sha256");
      let bytes = 0;
      try {
        const out = fs.createWriteStream(dest);
        const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream);
        body.on("data", (b: Buffer) => {
          hash.update(b);
          bytes += b.length;
          if (size !== undefined && bytes > size)
            body.destroy(new Error(`more than the ${size} bytes named`));
        });
        await new Promise<void>((resolve, reject) => {
          body.on("error", reject);
          out.on("error", reject);
          out.on("finish", resolve);
          body.pipe(out);
        });
      } catch (e) {
        fs.rmSync(dest, { force: true });
        if (attempt >= this.retries)
          throw new RegistryError(`${what} at ${this.where} failed (${netReason(e)})`, undefined, {
            cause: e,
          });
        await this.wait(attempt, `${what}: ${netReason(e)}`);
        continue;
      }
      const got = `sha256:${hash.digest("hex")}`;
      if (got !== digest || (size !== undefined && bytes !== size)) {
        fs.rmSync(dest, { force: true });
        throw new TrackRunError(
          "blob-mismatch",
          `${what} at ${this.where}: the registry sent bytes of ${got} (${bytes} bytes), not ${digest}`,
          { kind: "check" },
        );
      }
      return;
    }
  }

  /** A blob's bytes, checked against its digest (small blobs: configs, bundles). */
  async blobBytes(digest: string, maxBytes = MAX_MANIFEST_BYTES): Promise<Buffer> {
    const what = `reading blob ${digest}`;
    const res = await this.call({ method: "GET", path: `blobs/${digest}`, retry: true, what });
    if (res.status !== 200) return this.fail(res, what);
    const body = await readLimited(res, maxBytes, `${what} at ${this.where}`);
    const got = `sha256:${createHash("sha256").update(body).digest("hex")}`;
    if (got !== digest)
      throw new TrackRunError(
        "blob-mismatch",
        `${what} at ${this.where}: the registry sent bytes of ${got}`,
        { kind: "check" },
      );
    return body;
  }

  /** Stores a manifest under a digest or tag; its digest, and whether the registry processed its subject (OCI-Subject). */
  async putManifest(
    reference: string,
    body: Uint8Array,
    mediaType: string,
  ): Promise<{ digest: string; subjectProcessed: boolean }> {
    const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
    const what = `storing manifest ${reference}`;
    const res = await this.call({
      method: "PUT",
      path: `manifests/${reference}`,
      headers: { "content-type": mediaType },
      body: () => body as RequestBody,
      retry: true,
      what,
    });
    if (res.status !== 201 && res.status !== 200) return this.fail(res, what);
    await res.body?.cancel();
    return { digest, subjectProcessed: res.headers.has("oci-subject") };
  }

  /** A manifest or index by tag or digest (undefined when there is none); by digest, checked against it. */
  async getManifest(
    reference: string,
  ): Promise<{ body: Buffer; mediaType: string; digest: string } | undefined> {
    const what = `reading manifest ${reference}`;
    const res = await this.call({
      method: "GET",
      path: `manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      retry: true,
      what,
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) return this.fail(res, what);
    const body = await readLimited(res, MAX_MANIFEST_BYTES, `${what} at ${this.where}`);
    const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
    if (reference.startsWith("sha256:") && digest !== reference)
      throw new TrackRunError(
        "manifest-mismatch",
        `${what} at ${this.where}: the registry sent a manifest of ${digest}`,
        { kind: "check" },
      );
    const mediaType =
      (JSON.parse(body.toString("utf8")) as { mediaType?: string }).mediaType ??
      res.headers.get("content-type") ??
      MEDIA_MANIFEST;
    return { body, mediaType, digest };
  }

  /** Points a tag at a manifest already in the repository. */
  async tag(digest: string, tag: string): Promise<void> {
    const m = await this.getManifest(digest);
    if (!m)
      throw new RegistryError(`tagging ${digest} as ${tag}: ${this.where} has no manifest ${digest}`, 404);
    await this.putManifest(tag, m.body, m.mediaType);
  }

  /**
   * The referrers of a manifest: from the referrers API (GET /v2/<name>/referrers/<digest>) when the
   * registry has it, else from the referrers tag schema (tag sha256-<hex> holding an index).
   */
  async referrers(
    digest: string,
    artifactType?: string,
  ): Promise<{ referrers: Descriptor[]; via: "api" | "tag" }> {
    const what = `listing referrers of ${digest}`;
    const q = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : "";
    const res = await this.call({
      method: "GET",
      path: `referrers/${digest}${q}`,
      headers: { accept: MEDIA_INDEX },
      retry: true,
      what,
    });
    let index: { manifests?: Descriptor[] } | undefined;
    let via: "api" | "tag" = "api";
    const type = res.headers.get("content-type") ?? "";
    if (res.status === 200 && type.startsWith(MEDIA_INDEX)) {
      index = JSON.parse((await readLimited(res, MAX_MANIFEST_BYTES, what)).toString("utf8")) as typeof index;
    } else if (res.status === 404 || res.status === 200 || res.status === 400 || res.status === 405) {
      // No referrers API: docker-registry 2.x answers 404 for the unknown route.
      await res.body?.cancel();
      via = "tag";
      const fallback = await this.getManifest(referrersTag(digest));
      index = fallback ? (JSON.parse(fallback.body.toString("utf8")) as typeof index) : { manifests: [] };
    } else return this.fail(res, what);
    const all = Array.isArray(index?.manifests) ? index.manifests : [];
    return { referrers: artifactType ? all.filter((d) => d.artifactType === artifactType) : all, via };
  }

  /**
   * Attaches a manifest (already stored, with `subject`) as a referrer: nothing more when the
   * registry processed the subject; else adds it to the index under the subject's fallback tag.
   */
  async addReferrerToTag(subject: string, referrer: Descriptor): Promise<void> {
    const tag = referrersTag(subject);
    const existing = await this.getManifest(tag);
    const index = existing
      ? (JSON.parse(existing.body.toString("utf8")) as { manifests?: Descriptor[] })
      : { schemaVersion: 2, mediaType: MEDIA_INDEX, manifests: [] as Descriptor[] };
    const manifests = Array.isArray(index.manifests) ? index.manifests : [];
    if (manifests.some((d) => d.digest === referrer.digest)) return;
    const next = { ...index, schemaVersion: 2, mediaType: MEDIA_INDEX, manifests: [...manifests, referrer] };
    await this.putManifest(tag, Buffer.from(JSON.stringify(next)), MEDIA_INDEX);
  }
}

/** The referrers tag schema's tag for a digest: sha256:abc… → sha256-abc…. */
export function referrersTag(digest: string): string {
  return digest.replace(":", "-");
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u.toString();
}

function bodyOf(source: BlobSource, start: number, end: number): RequestBody {
  if ("bytes" in source) return source.bytes.subarray(start, end) as RequestBody;
  if (end === start) return new Uint8Array(0) as RequestBody;
  return Readable.toWeb(fs.createReadStream(source.path, { start, end: end - 1 })) as unknown as RequestBody;
}

async function readLimited(res: Response, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > max) {
    await res.body?.cancel();
    throw new RegistryError(`${what}: ${declared} bytes, more than the ${max} allowed`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > max) throw new RegistryError(`${what}: more than the ${max} bytes allowed`);
  return body;
}

function netReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
}

/** `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(
  header: string,
): { scheme: "basic" | "bearer"; params: Record<string, string> } | undefined {
  const m = /^\s*(Basic|Bearer)\b\s*(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? "";
  return { scheme: m[1]!.toLowerCase() as "basic" | "bearer", params };
}
