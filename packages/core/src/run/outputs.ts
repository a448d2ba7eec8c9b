// Typed outputs and chosen tracking: `outputs:` in track-run.yml gives roles by glob (relative to
// the outputs folder; the first glob a file matches gives its role), and `track:` says which files
// are recorded: all (every output is hashed and signed) or declared (only files matching a
// declared glob; the rest are listed as untracked, with their size and no digest).
import { Minimatch } from "minimatch";
import type { OutputRole } from "../__generated__/index.js";

export interface OutputSelection {
  roles: ReadonlyArray<{ path: string; role: OutputRole }>;
  track: "all" | "declared";
  /** The final metrics file the command writes inside the outputs folder: always tracked (role metrics unless a glob says otherwise). */
  metricsFile?: string;
}

/** The files to hash (with each one's role, by index) and, with track: declared, the untracked rest. */
export function selectOutputs<F extends { rel: string; size: number }>(
  files: readonly F[],
  selection: OutputSelection,
): {
  tracked: F[];
  roles: Array<OutputRole | undefined>;
  untracked?: Array<{ path: string; size: number }>;
} {
  const matchers = selection.roles.map((d) => ({
    m: new Minimatch(d.path.replace(/^\.\//, ""), { dot: true }),
    role: d.role,
  }));
  const roleOf = (rel: string): OutputRole | undefined => {
    const hit = matchers.find((x) => x.m.match(rel));
    if (hit) return hit.role;
    return rel === selection.metricsFile ? "metrics" : undefined;
  };
  const tracked: F[] = [];
  const roles: Array<OutputRole | undefined> = [];
  const untracked: Array<{ path: string; size: number }> = [];
  for (const f of files) {
    const role = roleOf(f.rel);
    if (selection.track === "declared" && role === undefined) {
      untracked.push({ path: f.rel, size: f.size });
      continue;
    }
    tracked.push(f);
    roles.push(role);
  }
  return { tracked, roles, ...(selection.track === "declared" ? { untracked } : {}) };
}
