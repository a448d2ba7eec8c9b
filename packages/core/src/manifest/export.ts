// Exports of a run manifest into the formats other tools read: an in-toto statement with a SLSA
// Provenance v1 predicate, W3C PROV-JSON, and RO-Crate 1.1 metadata. Each is lossless for what
// the format can hold; the manifest stays the source. What only makes sense on the machine that
// ran (an absolute path, a local clone) is left out: every URI written is one a reader elsewhere
// can resolve.
import type { RunManifest } from "../__generated__/index.js";

export const SLSA_PREDICATE_TYPE = "https://slsa.dev/provenance/v1";
export const TRAINING_BUILD_TYPE = "https://track-run.dev/buildtypes/training-run/v1";
const NS = "https://track-run.dev/ns#";
/** RO-Crate 1.1's context, plus `sha256`: a schema.org term that 1.1's context does not define. */
export const RO_CRATE_CONTEXT = [
  "https://w3id.org/ro/crate/1.1/context",
  { sha256: "http://schema.org/sha256" },
] as const;

interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  content?: string;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

const hex = (d: string) => d.replace(/^sha256:/, "");
/** A path as URI path segments: each one percent-encoded, `/` kept. */
const uriPath = (p: string) => p.split("/").map(encodeURIComponent).join("/");

/**
 * A repository remote as an absolute URL that works away from this machine (https, http, ssh,
 * git; `user@host:path` becomes `ssh://user@host/path`), or undefined for a local path or
 * `file:` URL, which means nothing elsewhere.
 */
export function publicRemoteUrl(remote: string | undefined): string | undefined {
  if (!remote) return undefined;
  if (/^file:/i.test(remote)) return undefined;
  const scp = /^(?:([^@/\s]+)@)?([A-Za-z0-9][A-Za-z0-9.-]+):(?!\/)(\S+)$/.exec(remote);
  const candidate =
    scp && !remote.includes("://") ? `ssh://${scp[1] ? `${scp[1]}@` : ""}${scp[2]}/${scp[3]}` : remote;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return undefined;
  }
  if (!["https:", "http:", "ssh:", "git:"].includes(url.protocol) || !url.hostname) return undefined;
  url.password = "";
  if (url.protocol.startsWith("http")) url.username = "";
  return url.href;
}

/** A data location as a web URL (a holey bag's), or undefined for a path. */
function webUrl(location: string | undefined): string | undefined {
  if (!location || !/^https?:\/\//i.test(location)) return undefined;
  try {
    const url = new URL(location);
    url.username = "";
    url.password = "";
    return url.href;
  } catch {
    return undefined;
  }
}

/** A location relative to the repository (meaningful with the pinned commit), else undefined. */
function repoRelative(location: string | undefined): string | undefined {
  if (!location || location.startsWith("/") || /^[A-Za-z]:[\\/]/.test(location) || location.includes(":"))
    return undefined;
  return location.split(/[\\/]/).includes("..") ? undefined : location;
}

/** The code's `git+URL@refs/heads/BRANCH` (SPDX download location form), when its remote is public. */
function codeUri(m: RunManifest): string | undefined {
  const c = m.code;
  if (c.kind !== "git") return undefined;
  const remote = publicRemoteUrl(c.remote);
  if (!remote) return undefined;
  return `git+${remote}${c.ref && !c.detached ? `@refs/heads/${uriPath(c.ref)}` : ""}`;
}

/**
 * An image pulled by digest as a package URL: `pkg:docker/NAMESPACE/NAME@sha256:HEX`, with
 * `?repository_url=REGISTRY` for a registry other than Docker Hub.
 */
export function imagePurl(repoDigest: string | undefined): string | undefined {
  if (!repoDigest) return undefined;
  const at = repoDigest.lastIndexOf("@");
  const digest = repoDigest.slice(at + 1);
  if (at <= 0 || !/^sha256:[0-9a-f]{64}$/.test(digest)) return undefined;
  const parts = repoDigest.slice(0, at).split("/");
  let registry: string | undefined;
  if (parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === "localhost")) registry = parts.shift();
  if (registry && ["docker.io", "index.docker.io", "registry-1.docker.io"].includes(registry))
    registry = undefined;
  if (!registry && parts.length === 1) parts.unshift("library");
  if (parts.some((p) => !/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(p))) return undefined;
  const repositoryUrl =
    registry && (/^[A-Za-z0-9.-]+(?::[0-9]+)?$/.test(registry) ? registry : encodeURIComponent(registry));
  return `pkg:docker/${parts.join("/")}@${digest}${repositoryUrl ? `?repository_url=${repositoryUrl}` : ""}`;
}

function dependencies(m: RunManifest): ResourceDescriptor[] {
  const deps: ResourceDescriptor[] = [];
  const c = m.code;
  const uri = codeUri(m);
  deps.push(
    c.kind === "git"
      ? {
          ...(uri ? { uri } : {}),
          name: "code",
          digest: { gitCommit: c.commit! },
          ...(c.dirty ? { annotations: { dirty: c.dirty } } : {}),
        }
      : { name: "code", digest: { sha256: c.contentDigest! } },
  );
  const img = m.environment.image;
  if (img) {
    const purl = imagePurl(img.repoDigest);
    deps.push({
      ...(purl ? { uri: purl } : {}),
      name: "image",
      digest: { sha256: hex(img.digest ?? img.id ?? "") },
      annotations: { reference: img.reference, pullable: img.pullable ?? false },
    });
  }
  for (const d of m.data) {
    const url = webUrl(d.location);
    const inRepo = repoRelative(d.location);
    deps.push({
      ...(url ? { uri: url } : {}),
      name: `data/${d.name}`,
      digest: { sha256: hex(d.digest) },
      annotations: {
        payloadOxum: d.payloadOxum,
        files: d.files,
        bytes: d.bytes,
        digestOf: "tagmanifest-sha256.txt",
        ...(d.payloadIdentity ? { payloadIdentity: d.payloadIdentity } : {}),
        ...(d.info ? { bagInfo: d.info } : {}),
        ...(d.fromRun ? { fromRun: d.fromRun } : {}),
        ...(inRepo ? { location: inRepo } : {}),
      },
    });
  }
  return deps;
}

const jsonContent = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");

/** An in-toto Statement v1 with a SLSA Provenance v1 predicate; subjects are the outputs. */
export function toSlsaStatement(m: RunManifest) {
  const runner = m.environment.runner;
  const byproducts: ResourceDescriptor[] = [
    {
      name: "status",
      mediaType: "application/json",
      content: jsonContent(m.status),
      annotations: { ...m.status },
    },
    {
      name: "metrics",
      mediaType: "application/json",
      content: jsonContent({ final: m.metrics.final }),
      annotations: { final: m.metrics.final },
    },
  ];
  if (m.status.logDigest) byproducts.push({ name: "log.txt", digest: { sha256: m.status.logDigest } });
  return {
    _type: "https://in-toto.io/Statement/v1",
    subject: m.outputs.map((o) => ({
      name: o.path,
      digest: { sha256: o.sha256 },
      ...(o.role ? { annotations: { role: o.role } } : {}),
    })),
    predicateType: SLSA_PREDICATE_TYPE,
    predicate: {
      buildDefinition: {
        buildType: TRAINING_BUILD_TYPE,
        externalParameters: {
          model: m.model,
          command: m.invocation.command,
          ...(m.invocation.params ? { params: m.invocation.params } : {}),
          ...(m.invocation.seed !== undefined ? { seed: m.invocation.seed } : {}),
          ...(m.labels ? { labels: m.labels } : {}),
        },
        internalParameters: {
          runtime: m.environment.runtime,
          ...(m.invocation.env ? { env: m.invocation.env } : {}),
          ...(m.invocation.gpus ? { gpus: m.invocation.gpus } : {}),
          ...(m.invocation.network ? { network: m.invocation.network } : {}),
        },
        resolvedDependencies: dependencies(m),
      },
      runDetails: {
        builder: {
          id: `https://track-run.dev/runner/${runner?.environment ?? "local"}`,
          ...(runner
            ? {
                version: Object.fromEntries(
                  Object.entries({ name: runner.name, os: runner.os, arch: runner.arch }).filter(
                    ([, v]) => v,
                  ),
                ),
              }
            : {}),
        },
        metadata: { invocationId: m.runId, startedOn: m.timing.startedAt, finishedOn: m.timing.finishedAt },
        byproducts,
      },
    },
  };
}

/** A PROV-JSON typed value: a qualified name (not a string literal). */
const qname = (name: string) => ({ $: name, type: "prov:QUALIFIED_NAME" });

/**
 * W3C PROV-JSON: entities for code, data, image and outputs; the run as an activity; runner and
 * actor as agents. Entity ids sit under the run's id (`trun:run/RUN/output/model.bin`), so the
 * documents of several runs merge without two runs' entities taking one id; the agents (a
 * runner, a person) are the same agents across runs.
 */
export function toProvJson(m: RunManifest) {
  const run = `trun:run/${encodeURIComponent(m.runId)}`;
  const entity: Record<string, Record<string, unknown>> = {};
  const used: Record<string, Record<string, string>> = {};
  const wasGeneratedBy: Record<string, Record<string, string>> = {};
  const wasDerivedFrom: Record<string, Record<string, string>> = {};
  const inputs: string[] = [];
  const repository = publicRemoteUrl(m.code.remote);
  entity[`${run}/code`] = {
    "prov:type": qname("trun:Code"),
    "prov:label": codeUri(m) ?? "code",
    ...(m.code.commit ? { "trun:commit": m.code.commit } : {}),
    ...(m.code.contentDigest ? { "trun:sha256": m.code.contentDigest } : {}),
    ...(repository ? { "trun:repository": { $: repository, type: "xsd:anyURI" } } : {}),
  };
  inputs.push(`${run}/code`);
  for (const d of m.data) {
    const id = `${run}/data/${encodeURIComponent(d.name)}`;
    entity[id] = {
      "prov:type": qname("trun:Bag"),
      "prov:label": d.name,
      "trun:digest": d.digest,
      "trun:payloadOxum": d.payloadOxum,
      ...(d.payloadIdentity ? { "trun:payloadIdentity": d.payloadIdentity } : {}),
      ...(d.info ? { "trun:bagInfo": JSON.stringify(d.info) } : {}),
      ...(d.fromRun ? { "trun:fromRun": d.fromRun.runId } : {}),
      ...(d.fromRun?.path ? { "trun:fromRunPath": d.fromRun.path } : {}),
    };
    inputs.push(id);
  }
  const img = m.environment.image;
  if (img) {
    entity[`${run}/image`] = {
      "prov:type": qname("trun:Image"),
      "prov:label": img.reference,
      "trun:digest": img.digest ?? img.id ?? "",
    };
    inputs.push(`${run}/image`);
  }
  inputs.forEach((e, i) => {
    used[`_:u${i}`] = { "prov:activity": run, "prov:entity": e };
  });
  m.outputs.forEach((o, i) => {
    const id = `${run}/output/${uriPath(o.path)}`;
    entity[id] = {
      "prov:type": qname("trun:Output"),
      "prov:label": o.path,
      "trun:sha256": o.sha256,
      "trun:size": o.size,
      ...(o.role ? { "trun:role": o.role } : {}),
    };
    wasGeneratedBy[`_:g${i}`] = { "prov:entity": id, "prov:activity": run, "prov:time": m.timing.finishedAt };
    inputs.forEach((src, j) => {
      wasDerivedFrom[`_:d${i}_${j}`] = {
        "prov:generatedEntity": id,
        "prov:usedEntity": src,
        "prov:activity": run,
      };
    });
  });
  const agent: Record<string, Record<string, unknown>> = {};
  const wasAssociatedWith: Record<string, Record<string, string>> = {};
  const runner = m.environment.runner;
  const runnerId = `trun:runner/${encodeURIComponent(runner?.name ?? "local")}`;
  agent[runnerId] = {
    "prov:type": qname("prov:SoftwareAgent"),
    ...(runner?.labels ? { "trun:labels": runner.labels.join(",") } : {}),
  };
  wasAssociatedWith["_:a0"] = { "prov:activity": run, "prov:agent": runnerId };
  if (m.invocation.actor) {
    const actorId = `trun:actor/${encodeURIComponent(m.invocation.actor)}`;
    agent[actorId] = { "prov:type": qname("prov:Person"), "prov:label": m.invocation.actor };
    wasAssociatedWith["_:a1"] = { "prov:activity": run, "prov:agent": actorId };
  }
  return {
    prefix: { trun: NS, prov: "http://www.w3.org/ns/prov#", xsd: "http://www.w3.org/2001/XMLSchema#" },
    entity,
    activity: {
      [run]: {
        "prov:startTime": m.timing.startedAt,
        "prov:endTime": m.timing.finishedAt,
        "prov:type": qname("trun:TrainingRun"),
        "trun:model": m.model,
        "trun:status": m.status.state,
        ...(m.labels ? { "trun:labels": JSON.stringify(m.labels) } : {}),
        ...(m.links?.parentRuns ? { "trun:parentRuns": m.links.parentRuns.join(",") } : {}),
      },
    },
    agent,
    used,
    wasGeneratedBy,
    wasAssociatedWith,
    wasDerivedFrom,
  };
}

export interface RoCrateOptions {
  /** The outputs' license: an SPDX identifier (`Apache-2.0`) or a URL. Unset: a "not stated" entity. */
  license?: string;
}

function licenseEntity(license: string | undefined): Record<string, unknown> {
  if (!license)
    return {
      "@id": "#license-not-stated",
      "@type": "CreativeWork",
      name: "License not stated",
      description:
        "The run recorded no license for its outputs; ask the model's owners before reuse. `track-run export ro-crate --license SPDX-ID` states one.",
    };
  if (/^https?:\/\//i.test(license)) return { "@id": license, "@type": "CreativeWork", name: license };
  return {
    "@id": `https://spdx.org/licenses/${encodeURIComponent(license)}`,
    "@type": "CreativeWork",
    name: license,
    identifier: license,
  };
}

function propertyValue(id: string, name: string, value: string): Record<string, unknown> {
  return { "@id": id, "@type": "PropertyValue", name, value };
}

/** `additionalProperty` naming each PropertyValue, when there are any. */
function refs(props: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  return props.length ? { additionalProperty: props.map((p) => ({ "@id": p["@id"] })) } : {};
}

/** RO-Crate 1.1 metadata (ro-crate-metadata.json) describing the run, its bags, code and outputs. */
export function toRoCrate(m: RunManifest, options: RoCrateOptions = {}) {
  const runId = `#run-${encodeURIComponent(m.runId)}`;
  const outputId = (path: string) => `outputs/${uriPath(path)}`;
  const license = licenseEntity(options.license);
  const repository = m.code.kind === "git" ? publicRemoteUrl(m.code.remote) : undefined;
  // Labels, bag-info fields, payload identities and roles as schema.org PropertyValues.
  const labelProps = Object.entries(m.labels ?? {}).map(([k, v]) =>
    propertyValue(`#label-${encodeURIComponent(k)}`, k, v),
  );
  const dataProps = new Map(
    m.data.map((d) => {
      const base = `#data-${encodeURIComponent(d.name)}`;
      const props = [
        ...(d.payloadIdentity
          ? [propertyValue(`${base}-payload-identity`, "payloadIdentity", d.payloadIdentity)]
          : []),
        ...(d.fromRun
          ? [
              propertyValue(
                `${base}-from-run`,
                "fromRun",
                d.fromRun.path ? `${d.fromRun.runId}/${d.fromRun.path}` : d.fromRun.runId,
              ),
            ]
          : []),
        ...Object.entries(d.info ?? {}).flatMap(([label, values]) =>
          values.map((v, i) => propertyValue(`${base}-info-${encodeURIComponent(label)}-${i}`, label, v)),
        ),
      ];
      return [d.name, props];
    }),
  );
  const roleProps = new Map(
    m.outputs.flatMap((o) =>
      o.role ? [[o.path, [propertyValue(`#role-${uriPath(o.path)}`, "role", o.role)]] as const] : [],
    ),
  );
  const graph: Array<Record<string, unknown>> = [
    {
      "@id": "ro-crate-metadata.json",
      "@type": "CreativeWork",
      conformsTo: { "@id": "https://w3id.org/ro/crate/1.1" },
      about: { "@id": "./" },
    },
    {
      "@id": "./",
      "@type": "Dataset",
      name: `${m.model}: training run ${m.runId}`,
      description: `Outputs of track-run run ${m.runId} of model ${m.model} (${m.status.state}).`,
      datePublished: m.timing.finishedAt,
      license: { "@id": license["@id"] },
      hasPart: m.outputs.map((o) => ({ "@id": outputId(o.path) })),
      mentions: { "@id": runId },
    },
    license,
    {
      "@id": runId,
      "@type": "CreateAction",
      name: `training run ${m.runId}`,
      startTime: m.timing.startedAt,
      endTime: m.timing.finishedAt,
      actionStatus: {
        "@id":
          m.status.state === "succeeded"
            ? "http://schema.org/CompletedActionStatus"
            : "http://schema.org/FailedActionStatus",
      },
      instrument: { "@id": "#code" },
      object: [
        ...m.data.map((d) => ({ "@id": `#data-${encodeURIComponent(d.name)}` })),
        ...(m.environment.image ? [{ "@id": "#image" }] : []),
      ],
      result: m.outputs.map((o) => ({ "@id": outputId(o.path) })),
      ...refs(labelProps),
      ...(m.invocation.actor ? { agent: { "@id": `#actor-${encodeURIComponent(m.invocation.actor)}` } } : {}),
    },
    {
      "@id": "#code",
      "@type": "SoftwareSourceCode",
      name: "training code",
      ...(repository ? { codeRepository: repository } : {}),
      version: m.code.commit ?? m.code.contentDigest,
    },
    ...m.data.map((d) => {
      const url = webUrl(d.location);
      return {
        "@id": `#data-${encodeURIComponent(d.name)}`,
        "@type": "Dataset",
        name: d.name,
        identifier: d.digest,
        contentSize: String(d.bytes),
        conformsTo: { "@id": "https://www.rfc-editor.org/rfc/rfc8493" },
        ...(url ? { url } : {}),
        ...refs(dataProps.get(d.name) ?? []),
      };
    }),
    ...m.outputs.map((o) => ({
      "@id": outputId(o.path),
      "@type": "File",
      name: o.path,
      contentSize: String(o.size),
      sha256: o.sha256,
      ...refs(roleProps.get(o.path) ?? []),
    })),
    ...labelProps,
    ...[...dataProps.values()].flat(),
    ...[...roleProps.values()].flat(),
  ];
  if (m.environment.image) {
    graph.push({
      "@id": "#image",
      "@type": "SoftwareApplication",
      name: m.environment.image.reference,
      identifier: m.environment.image.repoDigest ?? m.environment.image.id,
    });
  }
  if (m.invocation.actor)
    graph.push({
      "@id": `#actor-${encodeURIComponent(m.invocation.actor)}`,
      "@type": "Person",
      name: m.invocation.actor,
    });
  return { "@context": RO_CRATE_CONTEXT, "@graph": graph };
}
