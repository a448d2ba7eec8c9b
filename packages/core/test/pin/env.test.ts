import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildAndPin,
  type ContainerRuntime,
  findLockfiles,
  fromImages,
  hostFacts,
  openDockerRuntime,
  parseImageRef,
  pinEnvironment,
  resolveImage,
  TrackRunError,
} from "../../src/index.js";
import { BUSYBOX, docker, dockerUp, registryUp, requireEngine } from "../docker-helpers.js";
import { failure, tempDir, writeTree } from "../helpers.js";

describe("image references and Dockerfiles", () => {
  it.each([
    ["python:3.12", { repository: "python", tag: "3.12" }],
    ["127.0.0.1:5000/team/app:v1", { repository: "127.0.0.1:5000/team/app", tag: "v1" }],
    ["127.0.0.1:5000/team/app", { repository: "127.0.0.1:5000/team/app" }],
    [
      `ghcr.io/o/r@sha256:${"a".repeat(64)}`,
      { repository: "ghcr.io/o/r", digest: `sha256:${"a".repeat(64)}` },
    ],
  ])("parses %s", (ref, expected) => {
    expect(parseImageRef(ref)).toEqual(expected);
  });

  it("finds the FROM images, leaving out stages and scratch, with ARGs substituted", () => {
    const df = [
      "ARG BASE=python:3.12-slim",
      "ARG TOOLS",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile ARG syntax, not a template
      "FROM ${BASE} AS build",
      "RUN echo hi",
      "FROM --platform=linux/amd64 $TOOLS",
      "FROM build AS final",
      "FROM scratch",
      "COPY --from=build /x /x",
    ].join("\n");
    expect(fromImages(df, { TOOLS: "debian:12" })).toEqual(["python:3.12-slim", "debian:12"]);
  });

  it("finds lockfiles and digests them", () => {
    const dir = tempDir();
    writeTree(dir, {
      "requirements.txt": "numpy==2.0\n",
      "ml/requirements-dev.txt": "pytest\n",
      "uv.lock": "x",
      "node_modules/pkg/package-lock.json": "{}",
      "README.md": "no",
    });
    const found = findLockfiles(dir);
    expect(found.map((f) => f.path)).toEqual(["ml/requirements-dev.txt", "requirements.txt", "uv.lock"]);
    expect(found[1]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("reports host facts", async () => {
    const h = await hostFacts();
    expect(h.cpuCount).toBeGreaterThan(0);
    expect(h.memoryBytes).toBeGreaterThan(0);
    expect(h.arch).toBe(process.arch);
  });
});

describe("an unreachable engine", () => {
  it("is a usage error naming the endpoint, before anything runs", async () => {
    const err = await failure(openDockerRuntime({ host: "unix:///nonexistent/docker.sock" }));
    expect(err).toBeInstanceOf(TrackRunError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(
      /^no Docker engine answered at unix:\/\/\/nonexistent\/docker\.sock .*set DOCKER_HOST/,
    );
  });
});

describe.skipIf(!dockerUp || !registryUp)("environment pin on the real engine and registry", () => {
  let rt: ContainerRuntime;
  const repo = `127.0.0.1:5000/track-run-test/env-${randomBytes(4).toString("hex")}`;
  const made: string[] = [];
  beforeAll(async () => {
    rt = await openDockerRuntime({});
  });
  afterAll(async () => {
    for (const ref of made) await rt.removeImage(ref).catch(() => undefined);
  });

  it("builds from the offline base image honouring .dockerignore, pushes, and pins the digest docker inspect shows", async () => {
    const ctx = tempDir();
    writeTree(ctx, {
      Dockerfile: [
        `ARG BASE=${BUSYBOX}`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile ARG syntax, not a template
        "FROM ${BASE}",
        "ARG GREETING",
        "COPY . /ctx",
        "RUN test -e /ctx/train.py && test ! -e /ctx/secret.env && test ! -e /ctx/data/big.bin && test -e /ctx/data/keep.txt",
        'RUN echo "$GREETING" > /greeting',
      ].join("\n"),
      ".dockerignore": "secret.env\ndata/*\n!data/keep.txt\n",
      "train.py": "print('x')\n",
      "secret.env": "TOKEN=do-not-send\n",
      "data/big.bin": "ignored",
      "data/keep.txt": "kept",
    });
    const pin = await buildAndPin(rt, {
      dockerfile: join(ctx, "Dockerfile"),
      buildArgs: { GREETING: "hello" },
      push: `${repo}:v1`,
    });
    made.push(pin.id!, `${repo}:v1`, pin.reference);
    expect(pin.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pin.dockerfileDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(pin.buildArgs).toEqual({ GREETING: "hello" });
    expect(pin.baseImages).toHaveLength(1);
    expect(pin.baseImages![0]).toContain(BUSYBOX);
    expect(pin.reference).toBe(`${repo}:v1`);
    expect(pin.pullable).toBe(true);
    const inspected = JSON.parse(
      docker("image", "inspect", `${repo}:v1`, "--format", "{{json .RepoDigests}}"),
    ) as string[];
    expect(inspected).toContain(pin.repoDigest);
    expect(pin.repoDigest).toBe(`${repo}@${pin.digest}`);

    // Gone locally, it comes back by digest, and resolving the tag gives the same pin.
    docker("image", "rm", "-f", `${repo}:v1`, pin.id!);
    expect(await rt.inspectImage(pin.repoDigest!)).toBeUndefined();
    const back = await resolveImage(rt, pin.repoDigest!);
    expect(back).toMatchObject({
      repoDigest: pin.repoDigest,
      digest: pin.digest,
      id: pin.id,
      pullable: true,
    });
    expect(docker("run", "--rm", pin.repoDigest!, "cat", "/greeting")).toBe("hello");
    const byTag = await resolveImage(rt, `${repo}:v1`);
    expect(byTag.digest).toBe(pin.digest);
  });

  it("records a local-only image by ID, says it is not pullable, and --strict refuses the mutable tag", async () => {
    const pin = await resolveImage(rt, BUSYBOX);
    expect(pin).toMatchObject({ reference: BUSYBOX, pullable: false });
    expect(pin.repoDigest).toBeUndefined();
    expect(pin.id).toBe(docker("image", "inspect", BUSYBOX, "--format", "{{.Id}}"));
    const err = await failure(resolveImage(rt, BUSYBOX, { strict: true }));
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/no repository digest.*--strict/);
  });

  it("names an image that does not exist (exit 2)", async () => {
    const err = await failure(resolveImage(rt, "127.0.0.1:5000/track-run-test/no-such-image:v9"));
    expect(err).toBeInstanceOf(TrackRunError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(
      /image "127\.0\.0\.1:5000\/track-run-test\/no-such-image:v9" .*cannot be pulled/,
    );
  });

  it("fails a broken build with exit 1 and the end of its log", async () => {
    const ctx = tempDir();
    writeTree(ctx, { Dockerfile: `FROM ${BUSYBOX}\nRUN echo about to fail && false\n` });
    const err = await failure(
      buildAndPin(rt, {
        dockerfile: join(ctx, "Dockerfile"),
        tag: `track-run-test/broken:${Date.now()}`,
      }),
    );
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^the image build failed: .*returned a non-zero code/);
    expect(err.details.join("\n")).toContain("about to fail");
  });

  it("pins the whole environment: image, host with engine facts, GPUs (none here), lockfiles, runner", async () => {
    const repoDir = tempDir();
    writeFileSync(join(repoDir, "requirements.txt"), "numpy\n");
    const env = await pinEnvironment({
      runtime: "docker",
      containers: rt,
      image: BUSYBOX,
      repo: repoDir,
      runner: {
        name: "gpu-runner-1",
        os: "Linux",
        arch: "X64",
        labels: ["self-hosted", "gpu"],
        environment: "self-hosted",
      },
    });
    expect(env.image?.id).toMatch(/^sha256:/);
    expect(env.host?.dockerVersion).toBe(docker("version", "--format", "{{.Server.Version}}"));
    expect(env.host?.dockerRuntimes).toContain("runc");
    expect(Array.isArray(env.gpus)).toBe(true);
    expect(env.lockfiles?.map((l) => l.path)).toEqual(["requirements.txt"]);
    expect(env.runner?.labels).toEqual(["self-hosted", "gpu"]);
  });
});

requireEngine();
