// Exports checked against the published structure of each format.
import { describe, expect, it } from "vitest";
import { toProvJson, toRoCrate, toSlsaStatement } from "../../src/index.js";
import { sampleManifest } from "./fixtures.js";

const m = sampleManifest([{ path: "model.bin", sha256: "1".repeat(64), size: 7 }]);

describe("SLSA Provenance v1", () => {
  const s = toSlsaStatement(m);
  it("is an in-toto Statement v1 with the SLSA v1 predicate type and the outputs as subjects", () => {
    expect(s._type).toBe("https://in-toto.io/Statement/v1");
    expect(s.predicateType).toBe("https://slsa.dev/provenance/v1");
    expect(s.subject).toEqual([{ name: "model.bin", digest: { sha256: "1".repeat(64) } }]);
  });
  it("has buildDefinition (buildType, externalParameters, resolvedDependencies) and runDetails (builder.id, metadata)", () => {
    const p = s.predicate;
    expect(typeof p.buildDefinition.buildType).toBe("string");
    expect(p.buildDefinition.externalParameters).toMatchObject({
      command: ["python", "train.py"],
      seed: 42,
      params: { lr: 0.1 },
    });
    expect(p.runDetails.builder.id).toMatch(/^https:\/\//);
    expect(p.runDetails.metadata).toEqual({
      invocationId: m.runId,
      startedOn: m.timing.startedAt,
      finishedOn: m.timing.finishedAt,
    });
  });
  it("resolves code, image and each bag as ResourceDescriptors with a digest, and a uri where one resolves elsewhere", () => {
    const deps = s.predicate.buildDefinition.resolvedDependencies;
    expect(deps.map((d) => d.name)).toEqual(["code", "image", "data/train"]);
    for (const d of deps) {
      expect(d.uri ?? d.digest).toBeDefined();
      expect(Object.keys(d.digest ?? {}).length).toBeGreaterThan(0);
    }
    expect(deps[0]).toMatchObject({
      uri: "git+https://github.com/acme/models.git@refs/heads/main",
      digest: { gitCommit: "a".repeat(40) },
    });
    expect(deps[1]).toMatchObject({
      uri: `pkg:docker/acme/train@sha256:${"d".repeat(64)}?repository_url=127.0.0.1:5000`,
      digest: { sha256: "d".repeat(64) },
    });
    // A path in the repository is no URI: it stays an annotation beside the digest.
    expect(deps[2]).toMatchObject({
      digest: { sha256: "c".repeat(64) },
      annotations: { location: "data/train" },
    });
    expect(deps[2]!.uri).toBeUndefined();
  });
});

describe("W3C PROV-JSON", () => {
  const p = toProvJson(m);
  it("declares its prefixes and uses only PROV-JSON top-level sections", () => {
    expect(p.prefix.prov).toBe("http://www.w3.org/ns/prov#");
    const allowed = [
      "prefix",
      "entity",
      "activity",
      "agent",
      "used",
      "wasGeneratedBy",
      "wasAssociatedWith",
      "wasDerivedFrom",
    ];
    expect(Object.keys(p).every((k) => allowed.includes(k))).toBe(true);
  });
  it("has entities for code, data, image and outputs, the run as an activity, runner and actor as agents", () => {
    const run = `trun:run/${m.runId}`;
    expect(Object.keys(p.entity)).toEqual([
      `${run}/code`,
      `${run}/data/train`,
      `${run}/image`,
      `${run}/output/model.bin`,
    ]);
    expect(p.activity[run]).toMatchObject({
      "prov:startTime": m.timing.startedAt,
      "prov:endTime": m.timing.finishedAt,
    });
    expect(Object.keys(p.agent)).toEqual(["trun:runner/gpu-1", "trun:actor/ada"]);
    expect(Object.values(p.used).map((u) => u["prov:entity"])).toEqual([
      `${run}/code`,
      `${run}/data/train`,
      `${run}/image`,
    ]);
    expect(Object.values(p.wasGeneratedBy)).toEqual([
      { "prov:entity": `${run}/output/model.bin`, "prov:activity": run, "prov:time": m.timing.finishedAt },
    ]);
    expect(Object.values(p.wasAssociatedWith).map((a) => a["prov:agent"])).toEqual([
      "trun:runner/gpu-1",
      "trun:actor/ada",
    ]);
    expect(Object.values(p.wasDerivedFrom).map((d) => d["prov:usedEntity"])).toEqual([
      `${run}/code`,
      `${run}/data/train`,
      `${run}/image`,
    ]);
  });
  it("refers only to declared identifiers", () => {
    const declared = new Set([...Object.keys(p.entity), ...Object.keys(p.activity), ...Object.keys(p.agent)]);
    for (const rel of [p.used, p.wasGeneratedBy, p.wasAssociatedWith, p.wasDerivedFrom]) {
      for (const r of Object.values(rel)) {
        for (const [k, v] of Object.entries(r)) if (k !== "prov:time") expect(declared.has(v)).toBe(true);
      }
    }
  });
});

describe("RO-Crate 1.1", () => {
  const c = toRoCrate(m);
  const byId = new Map(c["@graph"].map((e) => [e["@id"] as string, e]));
  it("has the 1.1 context, the metadata descriptor and a root data entity with name, description, datePublished", () => {
    expect(c["@context"][0]).toBe("https://w3id.org/ro/crate/1.1/context");
    expect(byId.get("ro-crate-metadata.json")).toMatchObject({
      "@type": "CreativeWork",
      conformsTo: { "@id": "https://w3id.org/ro/crate/1.1" },
      about: { "@id": "./" },
    });
    const root = byId.get("./")!;
    expect(root["@type"]).toBe("Dataset");
    for (const k of ["name", "description", "datePublished", "license"]) expect(root[k]).toBeTruthy();
  });
  it("describes the run as a CreateAction over its bags and image, with its outputs as results", () => {
    const action = byId.get(`#run-${m.runId}`)!;
    expect(action["@type"]).toBe("CreateAction");
    expect(action.object).toEqual([{ "@id": "#data-train" }, { "@id": "#image" }]);
    expect(action.result).toEqual([{ "@id": "outputs/model.bin" }]);
    expect(byId.get("#data-train")).toMatchObject({ "@type": "Dataset", identifier: m.data[0]!.digest });
    expect(byId.get("outputs/model.bin")).toMatchObject({ "@type": "File", sha256: "1".repeat(64) });
  });
  it("has every referenced @id in the graph", () => {
    const refs = JSON.stringify(c).match(/\{"@id":"[^"]+"\}/g) ?? [];
    for (const r of refs) {
      const id = JSON.parse(r)["@id"] as string;
      if (!id.startsWith("http")) expect(byId.has(id), id).toBe(true);
    }
  });
});
