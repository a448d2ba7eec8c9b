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
  data?: {
    [k: string]: string;
  };
  outputs?: string;
  metrics?: string;
  params?: string;
  gpus?: string;
  runtime?: "docker" | "host";
  network?: "bridge" | "none";
  env?: string[];
  seed?: number;
  timeout?: number;
  ledger?: string;
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
   * @minItems 1
   */
  command?: [string, ...string[]];
  /**
   * Container memory limit, e.g. 512m or 8g (docker runtime).
   */
  memory?: string;
}
