// The HTTP client isomorphic-git talks to a git: ledger's remote with: Node's own fetch, so no
// deprecated url.parse() runs (isomorphic-git's node client warns with DEP0169 on every command).
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";

async function collect(body: AsyncIterableIterator<Uint8Array> | undefined): Promise<Buffer | undefined> {
  if (!body) return undefined;
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}

async function* chunks(stream: ReadableStream<Uint8Array> | null): AsyncIterableIterator<Uint8Array> {
  if (!stream) return;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) yield chunk;
}

/** A response's body, whole; throws naming the status unless it is 200. */
export async function okBody(res: GitHttpResponse): Promise<Buffer> {
  const body = (await collect(res.body)) ?? Buffer.alloc(0);
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} ${res.statusMessage ?? ""}`.trim());
  return body;
}

export const fetchHttp: HttpClient = {
  async request(r: GitHttpRequest): Promise<GitHttpResponse> {
    const body = await collect(r.body);
    const res = await fetch(r.url, {
      method: r.method ?? "GET",
      headers: r.headers ?? {},
      ...(body ? { body } : {}),
      redirect: "follow",
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return {
      url: res.url,
      method: r.method ?? "GET",
      statusCode: res.status,
      statusMessage: res.statusText,
      headers,
      body: chunks(res.body),
    };
  },
};
