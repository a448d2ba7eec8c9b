/* eslint-disable */
// Generated from schemas/manifest.schema.json by `npm run codegen`. Do not edit: change the schema and regenerate.

/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "runId".
 */
export type RunId = string;
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "sha256Hex".
 */
export type Sha256Hex = string;
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "Label".
 */
export type Label = string;
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "OutputRole".
 */
export type OutputRole =
  "model" | "checkpoint" | "predictions" | "plot" | "report" | "metrics" | "log" | "other";

/**
 * The provenance manifest of one training run: what it used (code, data, environment), how it was invoked, what it produced, and how it ended.
 */
export interface RunManifest {
  /**
   * Version of this schema; bumped on incompatible change.
   */
  schemaVersion: "1";
  runId: RunId;
  /**
   * Name of the model this run trains: an identifier (letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters), never a path.
   */
  model: string;
  code: CodePin;
  data: DataPin[];
  environment: EnvironmentPin;
  invocation: Invocation;
  outputs: OutputFile[];
  /**
   * The payload identity of the outputs as a set (each output as the line of data/<path>): what a bag made from this run's outputs folder has as payloadIdentity.
   */
  outputsIdentity?: string;
  /**
   * With `track: declared`: the files of the outputs folder that match no declared glob, listed without a digest (not signed subjects). Absent with `track: all`.
   */
  untracked?: {
    path: string;
    size: number;
  }[];
  metrics: Metrics;
  status: RunStatus;
  timing: Timing;
  links?: Links;
  /**
   * Labels of the run (key: value): from track-run.yml `labels:`, `::track-run label key=value` lines of the command, and --label (later ones win, in that order).
   */
  labels?: {
    [k: string]: Label;
  };
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "CodePin".
 */
export interface CodePin {
  /**
   * git: pinned by commit; content: no repository, pinned by a bag of the source folder.
   */
  kind: "git" | "content";
  commit?: string;
  tree?: string;
  /**
   * Branch name, or 'HEAD' when detached.
   */
  ref?: string;
  detached?: boolean;
  tags?: string[];
  author?: string;
  committedAt?: string;
  /**
   * Remote URL with any credentials removed.
   */
  remote?: string;
  shallow?: boolean;
  submodules?: {
    path: string;
    commit: string;
    url?: string;
  }[];
  dirty?: DirtyState;
  contentDigest?: Sha256Hex;
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "DirtyState".
 */
export interface DirtyState {
  modified: string[];
  added: string[];
  deleted: string[];
  untracked: string[];
  diffDigest?: Sha256Hex;
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "DataPin".
 */
export interface DataPin {
  name: string;
  /**
   * sha256 of the bag's tagmanifest-sha256.txt.
   */
  digest: string;
  payloadOxum: string;
  files: number;
  bytes: number;
  /**
   * Where the bag or its payload lives (path or URL, no credentials).
   */
  location?: string;
  /**
   * True when payload is listed in fetch.txt.
   */
  holey?: boolean;
  /**
   * sha256 of the bag's payload manifest (manifest-sha256.txt) as stored beside the record (data-NAME.manifest-sha256.txt), so the stored copy is covered by the signature.
   */
  payloadManifest?: string;
  /**
   * sha256 over the bag's payload manifest, normalised and sorted (one line '<sha256 hex>  <path>' per payload file, sorted by path, UTF-8): the same files as a plain folder, a bag, a holey bag or a tar get the same identity, whatever their bag metadata. Equal to outputsIdentity of a run whose outputs folder these files are.
   */
  payloadIdentity?: string;
  /**
   * The bag's bag-info.txt fields, each label with its values in file order (Payload-Oxum, Bagging-Date and Bag-Size left out). Absent for a plain folder.
   */
  info?: {
    [k: string]: string[];
  };
  /**
   * The data is the outputs of a recorded run (--data NAME=run:RUN[/PATH]), each file checked against that run's signed digests before this run started.
   */
  fromRun?: {
    runId: RunId;
    /**
     * The sub-folder of that run's outputs, when one was named.
     */
    path?: string;
  };
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "EnvironmentPin".
 */
export interface EnvironmentPin {
  runtime: "docker" | "host";
  image?: {
    reference: string;
    /**
     * Repository digest, when the image was pushed.
     */
    digest?: string;
    /**
     * name@sha256:…, pullable by digest.
     */
    repoDigest?: string;
    /**
     * Local image ID.
     */
    id?: string;
    dockerfileDigest?: Sha256Hex;
    buildArgs?: {
      [k: string]: string;
    };
    baseImages?: string[];
    /**
     * Whether the image can be pulled by digest (false for an image built locally and never pushed).
     */
    pullable?: boolean;
    /**
     * The Dockerfile the image was built from, relative to the repository root.
     */
    dockerfile?: string;
    /**
     * Its build context, relative to the repository root.
     */
    context?: string;
  };
  host?: HostFacts;
  gpus?: Gpu[];
  runner?: {
    name?: string;
    os?: string;
    arch?: string;
    labels?: string[];
    environment?: "github-hosted" | "self-hosted" | "local";
  };
  lockfiles?: {
    path: string;
    sha256: Sha256Hex;
  }[];
  interpreters?: {
    [k: string]: string;
  };
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "HostFacts".
 */
export interface HostFacts {
  os?: string;
  kernel?: string;
  arch?: string;
  cpuModel?: string;
  cpuCount?: number;
  memoryBytes?: number;
  dockerVersion?: string;
  dockerRuntimes?: string[];
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "Gpu".
 */
export interface Gpu {
  index?: number;
  name: string;
  uuid: string;
  driverVersion?: string;
  cudaVersion?: string;
  memoryMiB?: number;
  computeCapability?: string;
  mig?: boolean;
  parentUuid?: string;
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "Invocation".
 */
export interface Invocation {
  /**
   * @minItems 1
   */
  command: [string, ...string[]];
  params?: {};
  seed?: number;
  /**
   * Allow-listed environment only.
   */
  env?: {
    [k: string]: string;
  };
  gpus?: string;
  network?: "bridge" | "none" | "host";
  timeoutSeconds?: number;
  /**
   * Who started the run (the GitHub actor, or the local user).
   */
  actor?: string;
  /**
   * URL of the workflow run, when in GitHub Actions.
   */
  workflowRun?: string;
  /**
   * Where the command wrote its final metrics, relative to the outputs folder (--metrics).
   */
  metricsFile?: string;
  /**
   * Container memory limit (--memory).
   */
  memoryBytes?: number;
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "OutputFile".
 */
export interface OutputFile {
  path: string;
  sha256: Sha256Hex;
  size: number;
  /**
   * What the file is, from the first `outputs:` glob of track-run.yml it matches.
   */
  role?: "model" | "checkpoint" | "predictions" | "plot" | "report" | "metrics" | "log" | "other";
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "Metrics".
 */
export interface Metrics {
  final: MetricValue[];
  curves?: MetricValue[];
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "MetricValue".
 */
export interface MetricValue {
  name: string;
  value: number;
  step?: number;
  stage?: "train" | "validation" | "test";
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "RunStatus".
 */
export interface RunStatus {
  state: "succeeded" | "failed" | "cancelled";
  reason?: string;
  exitCode?: number;
  logTailDigest?: Sha256Hex;
  /**
   * sha256 of the whole log (log.txt) as stored beside the record.
   */
  logDigest?: string;
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "Timing".
 */
export interface Timing {
  startedAt: string;
  finishedAt: string;
  wallSeconds?: number;
  cpuSeconds?: number;
  peakMemoryBytes?: number;
}
/**
 * This interface was referenced by `RunManifest`'s JSON-Schema
 * via the `definition` "Links".
 */
export interface Links {
  parentRun?: RunId;
  reproductionOf?: RunId;
  promotedAs?: string;
  /**
   * The recorded runs whose outputs this run read as data: named with run:RUN, or found by payload identity.
   */
  parentRuns?: RunId[];
}
