// verify --deep: the pins themselves, re-checked against the world as it is now.
import type { RunManifest } from "@track-run/core";
import type { VerifyCheck } from "@track-run/core/sign";
import type { CliEnvironment } from "../context.js";

export function deepChecks(repo: string, env: CliEnvironment) {
  return async (m: RunManifest): Promise<VerifyCheck[]> => {
    const checks: VerifyCheck[] = [];
    const { pinData } = await import("@track-run/core/bag");
    const { resolveDataLocation } = await import("@track-run/core/run");
    for (const d of m.data) {
      if (!d.location) {
        checks.push({
          name: `data ${d.name}`,
          ok: false,
          detail: "the manifest records no location for this bag",
        });
        continue;
      }
      try {
        // A location relative to the repository (data inside it) is read in the repository given.
        const p = await pinData(resolveDataLocation(d.location, repo) ?? d.location);
        checks.push({
          name: `data ${d.name}`,
          ok: p.digest === d.digest,
          detail:
            p.digest === d.digest
              ? `${d.location} is valid and has the recorded digest`
              : `${d.location} has digest ${p.digest}, the manifest says ${d.digest}`,
        });
      } catch (e) {
        checks.push({ name: `data ${d.name}`, ok: false, detail: `${d.location}: ${(e as Error).message}` });
      }
    }
    if (m.code.kind === "git" && m.code.commit) {
      const { execFileSync } = await import("node:child_process");
      let ok = true;
      try {
        execFileSync("git", ["-C", repo, "cat-file", "-e", `${m.code.commit}^{commit}`], { stdio: "ignore" });
      } catch {
        ok = false;
      }
      checks.push({
        name: "code",
        ok,
        detail: ok
          ? `commit ${m.code.commit} exists in ${repo}`
          : `commit ${m.code.commit} is not in the repository at ${repo} (fetch it, or give --repo)`,
      });
    }
    const img = m.environment.image;
    if (img) {
      try {
        const { openDockerRuntime } = await import("@track-run/core/docker");
        const rt = await openDockerRuntime(env.docker);
        const ref = img.repoDigest ?? img.id ?? img.reference;
        const present = await rt.inspectImage(ref);
        if (present)
          checks.push({
            name: "image",
            ok: present.id === img.id || Boolean(img.repoDigest),
            detail: `${ref} is present (image ${present.id})`,
          });
        else if (img.repoDigest) {
          await rt.pullImage(img.repoDigest);
          checks.push({ name: "image", ok: true, detail: `${img.repoDigest} was pulled by digest` });
        } else
          checks.push({
            name: "image",
            ok: false,
            detail: `image ${img.id} is not present and was never pushed, so it cannot be pulled`,
          });
      } catch (e) {
        checks.push({ name: "image", ok: false, detail: (e as Error).message });
      }
    }
    return checks;
  };
}
