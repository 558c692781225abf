/**
 * Resolved configuration: defaults in one function, then the environment, then flags. Subsystems
 * get what they need from here as arguments.
 */
import path from 'node:path';
import { parseDuration } from '../core/duration.js';
import { JobhubError } from '../core/errors.js';

export interface JobhubConfig {
  /** Data folder: the SQLite store and each local node's working directories. Default `./.jobhub`
   * (env `JOBHUB_DATA`, flag `--data`). */
  dataDir: string;
  /** Time between SIGTERM and SIGKILL when tasks are stopped. Default 10s (env `JOBHUB_STOP_GRACE`). */
  stopGraceMs: number;
}

export interface ConfigFlags {
  data?: string | undefined;
  stopGrace?: string | undefined;
}

export function defaultConfig(): JobhubConfig {
  return { dataDir: '.jobhub', stopGraceMs: 10_000 };
}

export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv, cwd: string): JobhubConfig {
  const config = defaultConfig();
  const dataDir = flags.data ?? env.JOBHUB_DATA ?? config.dataDir;
  config.dataDir = path.resolve(cwd, dataDir);
  const grace = flags.stopGrace ?? env.JOBHUB_STOP_GRACE;
  if (grace !== undefined) {
    const ms = parseDuration(grace);
    if (ms === undefined)
      throw new JobhubError('bad_request', `stop grace "${grace}" is not a duration (e.g. 10s)`);
    config.stopGraceMs = ms;
  }
  return config;
}

export function storeFile(config: JobhubConfig): string {
  return path.join(config.dataDir, 'jobhub.db');
}

/** Where job files live (content-addressed blobs). */
export function blobsDir(config: { dataDir: string }): string {
  return path.join(config.dataDir, 'blobs');
}
