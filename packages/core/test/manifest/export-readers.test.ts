// Each export read back by a third-party reader of its format: npm's `ro-crate` validator for
// RO-Crate 1.1, Debian's python3-prov for W3C PROV-JSON, and for SLSA Provenance v1 a JSON Schema
// written here from the in-toto attestation v1 and SLSA v1 specifications (no package on the
// registries this project reaches ships in-toto's schemas as JSON Schema).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsPlugin from "ajv-formats";
import { describe, expect, it, vi } from "vitest";
import { outputFolderIdentities } from "../../src/bag/identity.js";
import type { RunManifest } from "../../src/index.js";
import { toProvJson, toRoCrate, toSlsaStatement } from "../../src/index.js";
import { buildLineage, lineageProv } from "../../src/ledger/index.js";
import type { RunRecord } from "../../src/ledger/records.js";
import { sampleManifest } from "../sign/fixtures.js";

const inCi = process.env.CI === "true";
const outputs = [
  { path: "model.json", sha256: "1".repeat(64), size: 7 },
  { path: "eval/report 1.txt", sha256: "2".repeat(64), size: 3 },
];

/** The sample run (https remote, pushed image, data in the repository). */
const published = sampleManifest(outputs);

/** A run made on a laptop: local clone, data in /tmp, an image never pushed. */
function localRun(runId: string, remote?: string): RunManifest {
  const m = sampleManifest(outputs);
  m.runId = runId;
  m.code = { ...m.code, remote };
  m.data = [{ ...m.data[0]!, location: "/tmp/track-run-data/train" }];
  m.environment.image = {
    reference: "acme/train:dev",
    id: `sha256:${"e".repeat(64)}`,
    pullable: false,
  };
  return m;
}

const variants: Array<[string, RunManifest]> = [
  ["a run with a public remote and a pushed image", published],
  ["a run from a local clone (remote /work/repo)", localRun("20260102-030405-aaaaaa", "/work/repo")],
  ["a run from a local clone (remote file:.)", localRun("20260102-030405-bbbbbb", "file:.")],
  ["a run with no remote", localRun("20260102-030405-cccccc")],
  [
    "a run from an ssh remote with a Docker Hub image and a holey bag",
    (() => {
      const m = sampleManifest(outputs);
      m.code = { ...m.code, remote: "git@github.com:acme/models.git" };
      m.environment.image = {
        reference: "python:3.12",
        digest: `sha256:${"d".repeat(64)}`,
        repoDigest: `docker.io/library/python@sha256:${"d".repeat(64)}`,
        pullable: true,
      };
      m.data = [{ ...m.data[0]!, location: "https://data.example.org/bags/train/", holey: true }];
      return m;
    })(),
  ],
  [
    "a run with labels, output roles, bag-info fields and a parent run",
    (() => {
      const m = sampleManifest(outputs);
      m.outputs = [
        { ...outputs[0]!, role: "model" },
        { ...outputs[1]!, role: "report" },
      ];
      m.labels = { team: "search", "dataset.version": "v2 (rows & more)" };
      m.data = [
        {
          ...m.data[0]!,
          payloadIdentity: `sha256:${"3".repeat(64)}`,
          info: { Basin: ["Campos"], "External-Identifier": ["a", "b c"] },
          fromRun: { runId: "20260102-030405-eeeeee", path: "train" },
        },
      ];
      m.untracked = [{ path: "scratch.tmp", size: 2 }];
      m.links = { parentRuns: ["20260102-030405-eeeeee"] };
      return m;
    })(),
  ],
  [
    "a run pinned by source content",
    (() => {
      const m = localRun("20260102-030405-dddddd");
      m.code = { kind: "content", contentDigest: "f".repeat(64) };
      return m;
    })(),
  ],
];

// --- RO-Crate 1.1 -----------------------------------------------------------------------------
// ro-crate 3.5 is the last release whose built-in context is RO-Crate 1.1 (later ones carry 1.2
// and fetch 1.1's over the network). Its validator also fetches the context to check its name:
// offline, that request is answered with the copy of the 1.1 context the package ships.
const require = createRequire(import.meta.url);
const { standardContexts } = require("ro-crate/lib/defaults.js") as {
  standardContexts: Record<string, unknown>;
};
vi.stubGlobal("fetch", async (url: string) => {
  const doc = standardContexts[String(url)];
  if (!doc) throw new Error(`offline: ${url}`);
  return new Response(JSON.stringify(doc), { headers: { "content-type": "application/ld+json" } });
});
const { Validator } = require("ro-crate") as {
  Validator: new () => {
    parseJSON(json: string): void;
    validate(): Promise<boolean>;
    results: Array<{ id: string; status: string; message: string }>;
    crate: { resolveTerm(term: string): string | undefined };
  };
};
// ro-crate keeps the fetch it found when loaded; the rest of this file gets the real one back.
vi.unstubAllGlobals();

describe("RO-Crate 1.1, read by npm's ro-crate validator", () => {
  it.each(variants)("%s: no errors, no warnings", async (_, m) => {
    const v = new Validator();
    v.parseJSON(JSON.stringify(toRoCrate(m)));
    expect(await v.validate()).toBe(true);
    expect(v.results.filter((r) => r.status !== "success")).toEqual([]);
    expect(v.results.find((r) => r.id === "licenseRequired")?.status).toBe("success");
  });

  it.each(variants)("%s: every property is a term of the crate's context (JSON-LD keeps it)", (_, m) => {
    const crate = toRoCrate(m);
    const v = new Validator();
    v.parseJSON(JSON.stringify(crate));
    const unresolved = crate["@graph"].flatMap((e) =>
      Object.keys(e)
        .filter((k) => !k.startsWith("@") && !v.crate.resolveTerm(k)?.startsWith("http"))
        .map((k) => `${e["@id"]}: ${k}`),
    );
    expect(unresolved).toEqual([]);
    expect(v.crate.resolveTerm("sha256")).toBe("http://schema.org/sha256");
  });

  it.each(variants)("%s: url and codeRepository are URLs that work elsewhere, never local paths", (_, m) => {
    for (const e of toRoCrate(m)["@graph"]) {
      for (const key of ["url", "codeRepository"]) {
        const value = e[key];
        if (value === undefined) continue;
        expect(new URL(String(value)).protocol, `${e["@id"]}: ${key} ${value}`).toMatch(
          /^(https?|ssh|git):$/,
        );
      }
    }
    const byId = new Map(toRoCrate(m)["@graph"].map((e) => [e["@id"], e]));
    if (m === published) {
      expect(byId.get("#code")?.codeRepository).toBe("https://github.com/acme/models.git");
    } else {
      expect(JSON.stringify(toRoCrate(m))).not.toMatch(/\/work\/repo|\/tmp\/|"file:/);
    }
  });

  it("names the outputs' license when given one, as an SPDX URL", () => {
    const crate = toRoCrate(published, { license: "Apache-2.0" });
    const root = crate["@graph"].find((e) => e["@id"] === "./");
    expect(root?.license).toEqual({ "@id": "https://spdx.org/licenses/Apache-2.0" });
    expect(crate["@graph"].some((e) => e["@id"] === "https://spdx.org/licenses/Apache-2.0")).toBe(true);
  });
});

// --- SLSA Provenance v1 -------------------------------------------------------------------------
// From https://github.com/in-toto/attestation/blob/main/spec/v1/{statement,resource_descriptor}.md
// and https://slsa.dev/spec/v1.0/provenance: a ResourceDescriptor needs one of uri, digest,
// content; uri and buildType and builder.id are RFC 3986 URIs ("uri" format, ajv-formats' full
// RFC 3986 grammar), and a file: URI is refused as well: it names a path on the machine that ran.
const uri = { type: "string", format: "uri", not: { pattern: "^(?:[A-Za-z0-9.-]+\\+)?file:" } };
const resourceDescriptor = {
  type: "object",
  properties: {
    uri,
    digest: {
      type: "object",
      minProperties: 1,
      properties: {
        sha256: { type: "string", pattern: "^[0-9a-f]{64}$" },
        sha512: { type: "string", pattern: "^[0-9a-f]{128}$" },
        gitCommit: { type: "string", pattern: "^[0-9a-f]{40}([0-9a-f]{24})?$" },
      },
      additionalProperties: { type: "string", pattern: "^[0-9a-f]+$" },
    },
    name: { type: "string" },
    downloadLocation: uri,
    mediaType: { type: "string" },
    content: { type: "string", contentEncoding: "base64", pattern: "^[A-Za-z0-9+/]*={0,2}$" },
    annotations: { type: "object" },
  },
  additionalProperties: false,
  anyOf: [{ required: ["uri"] }, { required: ["digest"] }, { required: ["content"] }],
};
const slsaStatementSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: ["_type", "subject", "predicateType", "predicate"],
  additionalProperties: false,
  properties: {
    _type: { const: "https://in-toto.io/Statement/v1" },
    subject: { type: "array", minItems: 1, items: { ...resourceDescriptor, required: ["digest"] } },
    predicateType: { const: "https://slsa.dev/provenance/v1" },
    predicate: {
      type: "object",
      required: ["buildDefinition", "runDetails"],
      additionalProperties: false,
      properties: {
        buildDefinition: {
          type: "object",
          required: ["buildType", "externalParameters"],
          additionalProperties: false,
          properties: {
            buildType: uri,
            externalParameters: { type: "object" },
            internalParameters: { type: "object" },
            resolvedDependencies: { type: "array", items: resourceDescriptor },
          },
        },
        runDetails: {
          type: "object",
          required: ["builder"],
          additionalProperties: false,
          properties: {
            builder: {
              type: "object",
              required: ["id"],
              additionalProperties: false,
              properties: {
                id: uri,
                builderDependencies: { type: "array", items: resourceDescriptor },
                version: { type: "object", additionalProperties: { type: "string" } },
              },
            },
            metadata: {
              type: "object",
              additionalProperties: false,
              properties: {
                invocationId: { type: "string" },
                startedOn: { type: "string", format: "date-time" },
                finishedOn: { type: "string", format: "date-time" },
              },
            },
            byproducts: { type: "array", items: resourceDescriptor },
          },
        },
      },
    },
  },
};
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;
const validateSlsa = addFormats(new Ajv2020({ allErrors: true, strict: false })).compile(slsaStatementSchema);

describe("SLSA Provenance v1, checked against the in-toto Statement v1 and SLSA v1 structure", () => {
  it.each(variants)("%s: valid, every uri an RFC 3986 URI", (_, m) => {
    const s = toSlsaStatement(m);
    const ok = validateSlsa(s);
    expect(validateSlsa.errors ?? [], JSON.stringify(s, null, 1)).toEqual([]);
    expect(ok).toBe(true);
    expect(JSON.stringify(s)).not.toMatch(/"uri":"(?:\/|git\+\/|git\+file:|[0-9])/);
  });

  it("writes git+URL@refs/heads/BRANCH for the code and a package URL for an image pulled by digest", () => {
    const deps = toSlsaStatement(published).predicate.buildDefinition.resolvedDependencies;
    expect(deps.find((d) => d.name === "code")?.uri).toBe(
      "git+https://github.com/acme/models.git@refs/heads/main",
    );
    expect(deps.find((d) => d.name === "image")?.uri).toBe(
      `pkg:docker/acme/train@sha256:${"d".repeat(64)}?repository_url=127.0.0.1:5000`,
    );
    const ssh = toSlsaStatement(variants[4]![1]).predicate.buildDefinition.resolvedDependencies;
    expect(ssh.find((d) => d.name === "code")?.uri).toBe(
      "git+ssh://git@github.com/acme/models.git@refs/heads/main",
    );
    expect(ssh.find((d) => d.name === "image")?.uri).toBe(
      `pkg:docker/library/python@sha256:${"d".repeat(64)}`,
    );
    expect(ssh.find((d) => d.name === "data/train")?.uri).toBe("https://data.example.org/bags/train/");
  });

  it("leaves the uri out where there is only a local path, and keeps the digest", () => {
    const deps = toSlsaStatement(variants[1]![1]).predicate.buildDefinition.resolvedDependencies;
    for (const d of deps) {
      expect(d.uri, d.name).toBeUndefined();
      expect(Object.keys(d.digest ?? {}).length, d.name).toBe(1);
    }
  });

  it("carries each byproduct's content (status, metrics), which a reader decodes back", () => {
    const byproducts = toSlsaStatement(published).predicate.runDetails.byproducts;
    const status = byproducts.find((b) => b.name === "status")!;
    expect(status.mediaType).toBe("application/json");
    expect(JSON.parse(Buffer.from(status.content!, "base64").toString("utf8"))).toEqual(published.status);
  });
});

// --- W3C PROV-JSON ------------------------------------------------------------------------------
/** A python3 that imports Debian's python3-prov (/usr/bin/python3 first: another python3 on PATH lacks it). */
function pythonWithProv(): string | undefined {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(python, ["-c", "import prov.model"], { encoding: "utf8" });
    if (r.status === 0) return python;
  }
  return undefined;
}
const python = pythonWithProv();

/** Reads the documents with prov, merges them, and reports what it read. */
const READ_BACK = `
import json, sys
from prov.model import ProvDocument, PROV_TYPE, QualifiedName
docs = [ProvDocument.deserialize(content=json.dumps(d), format="json") for d in json.load(sys.stdin)]
types = []
for doc in docs:
    for rec in doc.get_records():
        for attr, value in rec.attributes:
            if attr == PROV_TYPE:
                types.append({"record": str(rec.identifier), "type": str(value), "qualifiedName": isinstance(value, QualifiedName)})
merged = ProvDocument()
for doc in docs:
    merged.update(doc)
unified = merged.unified()
elements = sorted(str(rec.identifier) for rec in unified.get_records() if rec.is_element())
print(json.dumps({"types": types, "elements": elements, "provn": unified.get_provn()}))
`;

interface ProvReadBack {
  types: Array<{ record: string; type: string; qualifiedName: boolean }>;
  elements: string[];
  provn: string;
}

function readBack(...docs: unknown[]): ProvReadBack {
  const r = spawnSync(python!, ["-c", READ_BACK], { input: JSON.stringify(docs), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python3-prov could not read the documents: ${r.stderr}`);
  return JSON.parse(r.stdout) as ProvReadBack;
}

describe("W3C PROV-JSON, read back by python3-prov", () => {
  it.runIf(!python && inCi)("finds python3-prov (.ci/run installs it)", () => {
    expect(python, "no python3 that imports prov.model: apt-get install python3-prov").toBeDefined();
  });

  it.skipIf(!python).each(variants)("%s: every prov:type is read as a qualified name", (_, m) => {
    const { types } = readBack(toProvJson(m));
    expect(types.length).toBeGreaterThan(0);
    expect(types.filter((t) => !t.qualifiedName)).toEqual([]);
    expect(types.map((t) => t.type)).toEqual(
      expect.arrayContaining([
        "trun:Code",
        "trun:Output",
        "trun:TrainingRun",
        "prov:SoftwareAgent",
        "prov:Person",
      ]),
    );
  });

  it.skipIf(!python)(
    "merges two runs' documents with each run's code, data, image and outputs kept apart",
    () => {
      const a = published;
      const b = { ...sampleManifest(outputs), runId: "20260103-030405-def456" };
      const { elements, provn } = readBack(toProvJson(a), toProvJson(b));
      const perRun = (runId: string) => [
        `trun:run/${runId}`,
        `trun:run/${runId}/code`,
        `trun:run/${runId}/data/train`,
        `trun:run/${runId}/image`,
        `trun:run/${runId}/output/model.json`,
        `trun:run/${runId}/output/eval/report%201.txt`,
      ];
      expect(elements).toEqual(
        [...perRun(a.runId), ...perRun(b.runId), "trun:actor/ada", "trun:runner/gpu-1"].sort(),
      );
      // Each output entity keeps one checksum after merging (no two runs' values on one id).
      expect(provn.match(/trun:sha256="1{64}"/g)).toHaveLength(2);
      expect(provn).not.toMatch(/entity\(trun:output\//);
    },
  );

  it.skipIf(!python)(
    "reads one document of a lineage: a prepare run, a train run reading its outputs, a reproduction",
    () => {
      const prep = { ...sampleManifest([{ path: "train/rows.csv", sha256: "4".repeat(64), size: 9 }]) };
      prep.runId = "20260101-000000-aaaaaa";
      prep.model = "prep";
      const identity = outputFolderIdentities(prep.outputs).get("")!;
      const train = sampleManifest(outputs);
      train.runId = "20260102-000000-bbbbbb";
      train.data = [
        { ...train.data[0]!, name: "prepared", payloadIdentity: identity, fromRun: { runId: prep.runId } },
      ];
      train.links = { parentRuns: [prep.runId] };
      const again = { ...sampleManifest(outputs), runId: "20260103-000000-cccccc" };
      again.data = train.data;
      again.links = { reproductionOf: train.runId };
      const record = (manifest: RunManifest): RunRecord => ({
        runId: manifest.runId,
        where: `runs/${manifest.runId}`,
        trust: "verified",
        manifest,
        problems: [],
      });
      const runs = [prep, train, again];
      const graph = buildLineage(runs.map(record), new Map());
      const doc = lineageProv(runs, graph);
      const { elements, provn } = readBack(doc);
      for (const m of runs) expect(elements).toContain(`trun:run/${m.runId}`);
      // Agents shared by the runs appear once; each run keeps its own used and generated records.
      expect(elements.filter((e) => e.startsWith("trun:runner/"))).toEqual(["trun:runner/gpu-1"]);
      expect(provn.match(/\bused\(/g)?.length).toBe(
        runs.reduce((n, m) => n + Object.keys(toProvJson(m).used).length, 0),
      );
      // The join: the data the train run read was derived from the prepare run's output.
      expect(provn).toContain(
        `wasDerivedFrom(trun:run/${train.runId}/data/prepared, trun:run/${prep.runId}/output/train/rows.csv, trun:run/${prep.runId}`,
      );
      expect(provn).toContain(`wasInformedBy(trun:run/${train.runId}, trun:run/${prep.runId})`);
      expect(provn).toMatch(
        new RegExp(
          `wasInformedBy\\(trun:run/${again.runId}, trun:run/${train.runId}, \\[prov:type='trun:Reproduction'\\]\\)`,
        ),
      );
    },
  );
});
