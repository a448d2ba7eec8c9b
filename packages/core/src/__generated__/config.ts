/* eslint-disable */
// Generated from schemas/config.schema.json by `npm run codegen`. Do not edit: change the schema and regenerate.

/**
 * track-run.yml: how to run and record one model's training. Every key is also a flag of `track-run run` and an input of the root action.
 */
export interface Config {
  /**
   * The model this run trains: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters.
   */
  model?: string;
  image?: string;
  dockerfile?: string;
  context?: string;
  /**
   * Data by name: a folder, a bag (folder or archive), or run:RUN[/PATH], the outputs of a recorded run (a sub-folder with /PATH).
   */
  data?: {
    [k: string]: string;
  };
  /**
   * Either the outputs folder (a path), or the outputs' roles by glob, relative to the outputs folder: the first glob a file matches gives its role (with `track: declared`, only matching files are recorded).
   */
  outputs?:
    | string
    | {
        path: string;
        role: "model" | "checkpoint" | "predictions" | "plot" | "report" | "metrics" | "log" | "other";
      }[];
  metrics?: string;
  params?: string;
  gpus?: string;
  runtime?: "docker" | "host";
  network?: "bridge" | "none";
  env?: string[];
  seed?: number;
  timeout?: number;
  ledger?: string;
  /**
   * Where the run's signed outputs are pushed as one OCI artifact, with the signed bundle attached as a referrer: oci://REGISTRY/REPOSITORY.
   */
  artifacts?: string;
  signing?:
    | {
        /**
         * Path of the private key.
         */
        key: string;
      }
    | {
        keyless: true;
      }
    | {
        unsigned: true;
      };
  /**
   * RFC 3161 timestamp authority for key-signed records (its base URL, or the full endpoint), e.g. https://timestamp.sigstore.dev; a record it cannot timestamp is kept without a timestamp, with a warning.
   */
  tsa?: string;
  /**
   * Rekor transparency log to record key-signed records in (its base URL), e.g. https://rekor.sigstore.dev, so that Sigstore clients verify them at their default thresholds; a record it cannot log is kept without an entry, with a warning.
   */
  rekor?: string;
  /**
   * @minItems 1
   */
  command?: [string, ...string[]];
  /**
   * Container memory limit, e.g. 512m or 8g (docker runtime).
   */
  memory?: string;
  /**
   * all (default): every output is hashed and signed; declared: only outputs matching an `outputs:` glob, the rest listed as untracked.
   */
  track?: "all" | "declared";
  /**
   * Labels of every run (key: value).
   */
  labels?: {
    [k: string]: string;
  };
}
