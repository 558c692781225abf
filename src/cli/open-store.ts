/** Opens the store of a data folder for the read commands (jobs, show, logs, events). */
import { existsSync } from 'node:fs';
import { type ConfigFlags, resolveConfig, storeFile } from '../app/config.js';
import { recoverOrphans } from '../app/orphans.js';
import { JobhubError, NotFoundError } from '../core/errors.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { JobDetail, Store } from '../store/store.js';
import { type CliIO, println } from './io.js';

export async function openExistingStore(flags: ConfigFlags, io: CliIO): Promise<Store> {
  const config = resolveConfig(flags, io.env, io.cwd);
  const file = storeFile(config);
  if (!existsSync(file)) {
    throw new JobhubError(
      'not_found',
      `no jobhub data in ${config.dataDir}: run a job first, or pass --data DIR`,
    );
  }
  const store = SqliteStore.open(file);
  await store.migrate();
  reportOrphans(await recoverOrphans(store, config.dataDir), io);
  return store;
}

/** Tells the user about jobs ended because the process running them had died. */
export function reportOrphans(ids: number[], io: CliIO): void {
  for (const id of ids) {
    println(
      io.stderr,
      `jobhub: job ${id} was left active by a jobhub process that died; it is now failed (see jobhub show ${id})`,
    );
  }
}

export function parseJobId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id < 1)
    throw new JobhubError('bad_request', `"${text}" is not a job id (a positive number)`);
  return id;
}

export async function getDetail(store: Store, id: number): Promise<JobDetail> {
  const detail = await store.getJobDetail(id);
  if (!detail) throw new NotFoundError(`job ${id}`);
  return detail;
}
