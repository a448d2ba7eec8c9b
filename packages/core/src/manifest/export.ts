// Exports of a run manifest into the formats other tools read: an in-toto statement with a SLSA
// Provenance v1 predicate, W3C PROV-JSON, and RO-Crate 1.1 metadata. Each is lossless for what
// the format can hold; the manifest stays the source.
import type { RunManifest } from "../__generated__/index.js";

export const SLSA_PREDICATE_TYPE = "https://slsa.dev/provenance/v1";
export const TRAINING_BUILD_TYPE = "https://track-run.dev/buildtypes/training-run/v1";
const NS = "https://track-run.dev/ns#";

interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

const hex = (d: string) => d.replace(/^sha256:/, "");

function codeUri(m: RunManifest): string {
  const c = m.code;
  if (c.kind === "content") return `track-run:source-content:${c.contentDigest}`;
  return `git+${c.remote ?? "file:."}${c.ref && !c.detached ? `@refs/heads/${c.ref}` : ""}`;
}

function dependencies(m: RunManifest): ResourceDescriptor[] {
  const deps: ResourceDescriptor[] = [];
  const c = m.code;
  deps.push(
    c.kind === "git"
      ? {
          uri: codeUri(m),
          name: "code",
          digest: { gitCommit: c.commit! },
          ...(c.dirty ? { annotations: { dirty: c.dirty } } : {}),
        }
      : { uri: codeUri(m), name: "code", digest: { sha256: c.contentDigest! } },
  );
  const img = m.environment.image;
  if (img) {
    const digest = hex(img.digest ?? img.id ?? "");
    deps.push({
      uri: img.repoDigest ?? img.reference,
      name: "image",
      digest: { sha256: digest },
      annotations: { pullable: img.pullable ?? false },
    });
  }
  for (const d of m.data) {
    deps.push({
      uri: d.location ?? `bag:${d.name}`,
      name: `data/${d.name}`,
      digest: { sha256: hex(d.digest) },
      annotations: {
        payloadOxum: d.payloadOxum,
        files: d.files,
        bytes: d.bytes,
        digestOf: "tagmanifest-sha256.txt",
      },
    });
  }
  return deps;
}

/** An in-toto Statement v1 with a SLSA Provenance v1 predicate; subjects are the outputs. */
export function toSlsaStatement(m: RunManifest) {
  const runner = m.environment.runner;
  return {
    _type: "https://in-toto.io/Statement/v1",
    subject: m.outputs.map((o) => ({ name: o.path, digest: { sha256: o.sha256 } })),
    predicateType: SLSA_PREDICATE_TYPE,
    predicate: {
      buildDefinition: {
        buildType: TRAINING_BUILD_TYPE,
        externalParameters: {
          model: m.model,
          command: m.invocation.command,
          ...(m.invocation.params ? { params: m.invocation.params } : {}),
          ...(m.invocation.seed !== undefined ? { seed: m.invocation.seed } : {}),
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
        byproducts: [
          { name: "status", annotations: { ...m.status } },
          { name: "metrics", annotations: { final: m.metrics.final } },
        ],
      },
    },
  };
}

/** W3C PROV-JSON: entities for code, data, image and outputs; the run as an activity; runner and actor as agents. */
export function toProvJson(m: RunManifest) {
  const run = `trun:run/${m.runId}`;
  const entity: Record<string, Record<string, unknown>> = {};
  const used: Record<string, Record<string, string>> = {};
  const wasGeneratedBy: Record<string, Record<string, string>> = {};
  const wasDerivedFrom: Record<string, Record<string, string>> = {};
  const inputs: string[] = [];
  entity["trun:code"] = {
    "prov:type": "trun:Code",
    "prov:label": codeUri(m),
    ...(m.code.commit ? { "trun:commit": m.code.commit } : {}),
  };
  inputs.push("trun:code");
  for (const d of m.data) {
    const id = `trun:data/${d.name}`;
    entity[id] = {
      "prov:type": "trun:Bag",
      "prov:label": d.name,
      "trun:digest": d.digest,
      "trun:payloadOxum": d.payloadOxum,
    };
    inputs.push(id);
  }
  const img = m.environment.image;
  if (img) {
    entity["trun:image"] = {
      "prov:type": "trun:Image",
      "prov:label": img.reference,
      "trun:digest": img.digest ?? img.id ?? "",
    };
    inputs.push("trun:image");
  }
  inputs.forEach((e, i) => {
    used[`_:u${i}`] = { "prov:activity": run, "prov:entity": e };
  });
  m.outputs.forEach((o, i) => {
    const id = `trun:output/${o.path}`;
    entity[id] = {
      "prov:type": "trun:Output",
      "prov:label": o.path,
      "trun:sha256": o.sha256,
      "trun:size": o.size,
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
  const runnerId = `trun:runner/${runner?.name ?? "local"}`;
  agent[runnerId] = {
    "prov:type": "prov:SoftwareAgent",
    ...(runner?.labels ? { "trun:labels": runner.labels.join(",") } : {}),
  };
  wasAssociatedWith["_:a0"] = { "prov:activity": run, "prov:agent": runnerId };
  if (m.invocation.actor) {
    const actorId = `trun:actor/${m.invocation.actor}`;
    agent[actorId] = { "prov:type": "prov:Person", "prov:label": m.invocation.actor };
    wasAssociatedWith["_:a1"] = { "prov:activity": run, "prov:agent": actorId };
  }
  return {
    prefix: { trun: NS, prov: "http://www.w3.org/ns/prov#" },
    entity,
    activity: {
      [run]: {
        "prov:startTime": m.timing.startedAt,
        "prov:endTime": m.timing.finishedAt,
        "prov:type": "trun:TrainingRun",
        "trun:model": m.model,
        "trun:status": m.status.state,
      },
    },
    agent,
    used,
    wasGeneratedBy,
    wasAssociatedWith,
    wasDerivedFrom,
  };
}

/** RO-Crate 1.1 metadata (ro-crate-metadata.json) describing the run, its bags, code and outputs. */
export function toRoCrate(m: RunManifest) {
  const runId = `#run-${m.runId}`;
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
      hasPart: m.outputs.map((o) => ({ "@id": `outputs/${o.path}` })),
      mentions: { "@id": runId },
    },
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
        ...m.data.map((d) => ({ "@id": `#data-${d.name}` })),
        ...(m.environment.image ? [{ "@id": "#image" }] : []),
      ],
      result: m.outputs.map((o) => ({ "@id": `outputs/${o.path}` })),
      ...(m.invocation.actor ? { agent: { "@id": `#actor-${m.invocation.actor}` } } : {}),
    },
    {
      "@id": "#code",
      "@type": "SoftwareSourceCode",
      name: "training code",
      ...(m.code.remote ? { codeRepository: m.code.remote } : {}),
      version: m.code.commit ?? m.code.contentDigest,
    },
    ...m.data.map((d) => ({
      "@id": `#data-${d.name}`,
      "@type": "Dataset",
      name: d.name,
      identifier: d.digest,
      contentSize: String(d.bytes),
      conformsTo: { "@id": "https://www.rfc-editor.org/rfc/rfc8493" },
      ...(d.location ? { url: d.location } : {}),
    })),
    ...m.outputs.map((o) => ({
      "@id": `outputs/${o.path}`,
      "@type": "File",
      name: o.path,
      contentSize: String(o.size),
      sha256: o.sha256,
    })),
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
    graph.push({ "@id": `#actor-${m.invocation.actor}`, "@type": "Person", name: m.invocation.actor });
  return { "@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph };
}
