// A local GitHub REST API for the calls track-run makes (issue comments, commit statuses,
// attestations, and the look-up by subject digest that `gh attestation verify` makes), with
// every request checked against GitHub's published OpenAPI description (@octokit/openapi) and
// every response it sends checked too, so the real Octokit client is exercised on real shapes.
// Tokens: one that may write, one read-only (as a fork's pull request gets), anything else 401.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

const require = createRequire(import.meta.url);
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema: object;
}
interface Operation {
  parameters?: Array<Parameter | { $ref: string }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: object }> };
  responses: Record<string, Response | { $ref: string }>;
}
interface Response {
  content?: Record<string, { schema: object }>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { parameters: Record<string, Parameter>; responses: Record<string, Response> };
}

let spec: { doc: OpenApi; ajv: Ajv } | undefined;
function openapi() {
  if (!spec) {
    const file = require.resolve("@octokit/openapi/generated/api.github.com.json");
    const doc = JSON.parse(readFileSync(file, "utf8")) as OpenApi;
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false });
    addFormats(ajv);
    for (const f of [
      "int32",
      "int64",
      "uri-template",
      "binary",
      "repo.nwo",
      "ssh-key",
      "ssh-key fingerprint",
    ])
      ajv.addFormat(f, true);
    ajv.addSchema(doc as object, "gh");
    spec = { doc, ajv };
  }
  return spec;
}

/** A schema of the description, with its local references pointed into the whole document. */
function compile(schema: object): ValidateFunction {
  const { ajv } = openapi();
  const text = JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"gh#/');
  return ajv.compile(JSON.parse(text) as object);
}

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  names: string[];
  op: Operation;
}
const routes = new Map<string, Route[]>();
function routesFor(method: string): Route[] {
  let list = routes.get(method);
  if (!list) {
    list = [];
    for (const [template, ops] of Object.entries(openapi().doc.paths)) {
      const op = ops[method.toLowerCase()];
      if (!op) continue;
      const names: string[] = [];
      const source = template.replace(/\{([^}]+)\}/g, (_, n: string) => {
        names.push(n);
        return "([^/]+)";
      });
      list.push({ method, template, pattern: new RegExp(`^${source}$`), names, op });
    }
    // Literal segments before parameters: /issues/comments/{id} wins over /issues/{number}/…
    list.sort((a, b) => a.names.length - b.names.length);
    routes.set(method, list);
  }
  return list;
}

const validators = new Map<string, ValidateFunction>();
function validator(key: string, schema: object): ValidateFunction {
  let v = validators.get(key);
  if (!v) {
    v = compile(schema);
    validators.set(key, v);
  }
  return v;
}

function coerce(value: string, schema: { type?: string }): unknown {
  if (schema.type === "integer" || schema.type === "number") return value === "" ? value : Number(value);
  if (schema.type === "boolean") return value === "true" ? true : value === "false" ? false : value;
  return value;
}

/** Problems with a request by the description; empty when it conforms. */
function checkRequest(
  route: Route,
  params: Record<string, string>,
  query: URLSearchParams,
  body: unknown,
): string[] {
  const problems: string[] = [];
  const where = `${route.method} ${route.template}`;
  const declared = (route.op.parameters ?? []).map((p) =>
    "$ref" in p ? openapi().doc.components.parameters[p.$ref.split("/").pop()!]! : p,
  );
  for (const p of declared) {
    if (p.in === "header") continue;
    const raw = p.in === "path" ? params[p.name] : (query.get(p.name) ?? undefined);
    if (raw === undefined) {
      if (p.required) problems.push(`${where}: missing ${p.in} parameter ${p.name}`);
      continue;
    }
    const v = validator(`${where} ${p.in} ${p.name}`, p.schema);
    if (!v(coerce(raw, p.schema as { type?: string })))
      problems.push(`${where}: ${p.in} parameter ${p.name}=${raw}: ${JSON.stringify(v.errors)}`);
  }
  for (const name of query.keys()) {
    if (!declared.some((p) => p.in === "query" && p.name === name))
      problems.push(`${where}: undeclared query parameter ${name}`);
  }
  const rb = route.op.requestBody;
  if (rb) {
    if (body === undefined) {
      if (rb.required) problems.push(`${where}: a JSON body is required`);
    } else {
      const schema = rb.content["application/json"]?.schema;
      if (!schema) problems.push(`${where}: takes no JSON body`);
      else {
        const v = validator(`${where} body`, schema);
        if (!v(body)) problems.push(`${where}: body ${JSON.stringify(body)}: ${JSON.stringify(v.errors)}`);
      }
    }
  } else if (body !== undefined) problems.push(`${where}: takes no body`);
  return problems;
}

function checkResponse(route: Route, status: number, body: unknown): string[] {
  const where = `${route.method} ${route.template} -> ${status}`;
  const listed = route.op.responses[String(status)];
  if (!listed) return [`${where}: status not in the description`];
  const r = "$ref" in listed ? openapi().doc.components.responses[listed.$ref.split("/").pop()!]! : listed;
  const schema = r.content?.["application/json"]?.schema;
  if (!schema) return body === undefined ? [] : [`${where}: the description has no body`];
  const v = validator(`${where} response`, schema);
  return v(body) ? [] : [`${where}: response ${JSON.stringify(v.errors).slice(0, 400)}`];
}

export interface StoredComment {
  id: number;
  issue: number;
  body: string;
  created_at: string;
  updated_at: string;
}
export interface StoredStatus {
  sha: string;
  state: string;
  context: string;
  description: string | null;
  target_url: string | null;
}

export interface StoredAttestation {
  id: number;
  /** The request body's bundle, as sent. */
  bundle: Record<string, unknown>;
}

/** The in-toto statement inside a bundle's DSSE envelope (undefined when there is none). */
function statementOf(
  bundle: Record<string, unknown>,
): { predicateType?: string; subject?: Array<{ digest?: Record<string, string> }> } | undefined {
  const payload = (bundle.dsseEnvelope as { payload?: unknown } | undefined)?.payload;
  if (typeof payload !== "string") return undefined;
  try {
    return JSON.parse(Buffer.from(payload, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
}

export interface GitHubApiServer {
  url: string;
  writeToken: string;
  readToken: string;
  owner: string;
  repo: string;
  comments: Map<number, StoredComment>;
  statuses: StoredStatus[];
  attestations: StoredAttestation[];
  /** Every request, as "METHOD /path?query". */
  requests: string[];
  /** Requests or responses that do not conform to the OpenAPI description. */
  violations: string[];
  /** Hold the next `n` comment creations until all `n` have arrived (two jobs racing). */
  raceCreates(n: number): void;
  addComment(issue: number, body: string): StoredComment;
  close(): Promise<void>;
}

const BOT = {
  login: "github-actions[bot]",
  id: 41898282,
  node_id: "MDM6Qm90NDE4OTgyODI=",
  avatar_url: "https://avatars.githubusercontent.com/in/15368?v=4",
  gravatar_id: "",
  type: "Bot",
  site_admin: false,
};

export async function startGitHubApi(
  options: { owner?: string; repo?: string } = {},
): Promise<GitHubApiServer> {
  openapi();
  const owner = options.owner ?? "acme";
  const repo = options.repo ?? "models";
  let nextId = 1_000_000;
  const comments = new Map<number, StoredComment>();
  const statuses: StoredStatus[] = [];
  const attestations: StoredAttestation[] = [];
  const requests: string[] = [];
  const violations: string[] = [];
  let race: { left: number; waiting: Array<() => void> } | undefined;
  let base = "";

  const login = encodeURIComponent(BOT.login);
  const user = () => ({
    ...BOT,
    url: `${base}/users/${login}`,
    html_url: `https://github.com/apps/github-actions`,
    followers_url: `${base}/users/${login}/followers`,
    following_url: `${base}/users/${login}/following{/other_user}`,
    gists_url: `${base}/users/${login}/gists{/gist_id}`,
    starred_url: `${base}/users/${login}/starred{/owner}{/repo}`,
    subscriptions_url: `${base}/users/${login}/subscriptions`,
    organizations_url: `${base}/users/${login}/orgs`,
    repos_url: `${base}/users/${login}/repos`,
    events_url: `${base}/users/${login}/events{/privacy}`,
    received_events_url: `${base}/users/${login}/received_events`,
  });
  const commentJson = (c: StoredComment) => ({
    id: c.id,
    node_id: `IC_${c.id}`,
    url: `${base}/repos/${owner}/${repo}/issues/comments/${c.id}`,
    html_url: `https://github.com/${owner}/${repo}/pull/${c.issue}#issuecomment-${c.id}`,
    issue_url: `${base}/repos/${owner}/${repo}/issues/${c.issue}`,
    body: c.body,
    user: user(),
    created_at: c.created_at,
    updated_at: c.updated_at,
    author_association: "CONTRIBUTOR",
    performed_via_github_app: null,
  });
  const addComment = (issue: number, body: string): StoredComment => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const c = { id: nextId++, issue, body, created_at: now, updated_at: now };
    comments.set(c.id, c);
    return c;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", base);
    const method = (req.method ?? "GET").toUpperCase();
    requests.push(`${method} ${url.pathname}${url.search}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        violations.push(`${method} ${url.pathname}: body is not JSON`);
      }
    }
    const send = (
      route: Route | undefined,
      status: number,
      json?: unknown,
      headers: Record<string, string> = {},
    ) => {
      if (route && status < 500) violations.push(...checkResponse(route, status, json));
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(json === undefined ? undefined : JSON.stringify(json));
    };
    const route = routesFor(method).find((r) => r.pattern.test(url.pathname));
    if (!route) {
      violations.push(`${method} ${url.pathname}: not in GitHub's REST API`);
      return send(undefined, 404, {
        message: "Not Found",
        documentation_url: "https://docs.github.com/rest",
      });
    }
    const match = route.pattern.exec(url.pathname)!;
    const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(match[i + 1]!)]));
    const problems = checkRequest(route, params, url.searchParams, body);
    if (problems.length) {
      violations.push(...problems);
      return send(undefined, 422, { message: "Validation Failed", errors: problems });
    }
    const auth = req.headers.authorization?.replace(/^(token|bearer)\s+/i, "");
    if (auth !== writeToken && auth !== readToken)
      return send(undefined, 401, {
        message: "Bad credentials",
        documentation_url: "https://docs.github.com/rest",
      });
    if (params.owner !== owner || params.repo !== repo)
      return send(route, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" });
    const forbidden = () =>
      send(route, 403, {
        message: "Resource not accessible by integration",
        documentation_url: "https://docs.github.com/rest",
        status: "403",
      });
    const notFound = () =>
      send(route, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" });
    const write = method !== "GET";
    if (write && auth === readToken) {
      // Operations whose description lists no 403 still answer it on GitHub; do not check those.
      if (route.op.responses["403"]) return forbidden();
      return send(undefined, 403, {
        message: "Resource not accessible by integration",
        documentation_url: "https://docs.github.com/rest",
      });
    }

    switch (`${method} ${route.template}`) {
      case "GET /repos/{owner}/{repo}/issues/{issue_number}/comments": {
        const issue = Number(params.issue_number);
        const perPage = Math.min(Number(url.searchParams.get("per_page") ?? 30), 100);
        const page = Number(url.searchParams.get("page") ?? 1);
        const all = [...comments.values()].filter((c) => c.issue === issue).sort((a, b) => a.id - b.id);
        const last = Math.max(1, Math.ceil(all.length / perPage));
        const link = (p: number) => {
          const u = new URL(url);
          u.searchParams.set("per_page", String(perPage));
          u.searchParams.set("page", String(p));
          return u.toString();
        };
        const rels = [
          ...(page < last ? [`<${link(page + 1)}>; rel="next"`, `<${link(last)}>; rel="last"`] : []),
          ...(page > 1 ? [`<${link(1)}>; rel="first"`, `<${link(page - 1)}>; rel="prev"`] : []),
        ];
        return send(
          route,
          200,
          all.slice((page - 1) * perPage, page * perPage).map(commentJson),
          rels.length ? { link: rels.join(", ") } : {},
        );
      }
      case "POST /repos/{owner}/{repo}/issues/{issue_number}/comments": {
        if (race && race.left > 0) {
          race.left--;
          const r = race;
          if (r.left === 0) {
            for (const w of r.waiting) w();
            race = undefined;
          } else await new Promise<void>((resolve) => r.waiting.push(resolve));
        }
        const c = addComment(Number(params.issue_number), (body as { body: string }).body);
        return send(route, 201, commentJson(c), { location: commentJson(c).url });
      }
      case "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}": {
        const c = comments.get(Number(params.comment_id));
        if (!c) return notFound();
        c.body = (body as { body: string }).body;
        c.updated_at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        return send(route, 200, commentJson(c));
      }
      case "DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}": {
        if (!comments.delete(Number(params.comment_id)))
          return send(undefined, 404, {
            message: "Not Found",
            documentation_url: "https://docs.github.com/rest",
          });
        return send(route, 204);
      }
      case "POST /repos/{owner}/{repo}/statuses/{sha}": {
        const b = body as { state: string; context?: string; description?: string; target_url?: string };
        const s: StoredStatus = {
          sha: params.sha!,
          state: b.state,
          context: b.context ?? "default",
          description: b.description ?? null,
          target_url: b.target_url ?? null,
        };
        statuses.push(s);
        const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        const id = nextId++;
        return send(route, 201, {
          url: `${base}/repos/${owner}/${repo}/statuses/${s.sha}`,
          avatar_url: null,
          id,
          node_id: `SC_${id}`,
          state: s.state,
          description: s.description,
          target_url: s.target_url,
          context: s.context,
          created_at: now,
          updated_at: now,
          creator: user(),
        });
      }
      case "POST /repos/{owner}/{repo}/attestations": {
        const a = { id: nextId++, bundle: (body as { bundle: Record<string, unknown> }).bundle };
        attestations.push(a);
        return send(route, 201, { id: a.id });
      }
      case "GET /repos/{owner}/{repo}/attestations/{subject_digest}": {
        // As GitHub answers `gh attestation verify`: every stored bundle with a subject of this digest.
        const [alg, hex] = params.subject_digest!.split(":");
        const predicateType = url.searchParams.get("predicate_type");
        const found = attestations.filter((a) => {
          const st = statementOf(a.bundle);
          if (predicateType && st?.predicateType !== predicateType) return false;
          return (st?.subject ?? []).some((x) => alg && x.digest?.[alg] === hex);
        });
        return send(route, 200, {
          attestations: found.map((a) => ({
            bundle: a.bundle,
            repository_id: 1,
            bundle_url: `${base}/attestations/${a.id}/bundle`,
          })),
        });
      }
      default:
        violations.push(`${method} ${route.template}: not served by this test server`);
        return send(undefined, 501, { message: "not implemented here" });
    }
  }

  const writeToken = "ghs_writeWRITEwrite0000000000000000000";
  const readToken = "ghs_readREADread00000000000000000000000";
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      violations.push(`server error: ${(e as Error).stack}`);
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    writeToken,
    readToken,
    owner,
    repo,
    comments,
    statuses,
    attestations,
    requests,
    violations,
    raceCreates(n: number) {
      race = { left: n, waiting: [] };
    },
    addComment,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
