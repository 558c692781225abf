/**
 * `jobhub locks`: every lock with its holders and queue (from a server, or the local data folder);
 * `jobhub lock set NAME --capacity N`, `lock rm NAME`, `lock break NAME` (server admins).
 */
import type { ConfigFlags } from '../../app/config.js';
import { JobhubError } from '../../core/errors.js';
import type { BreakResponse, LockList, LockResponse, LockView } from '../../server/lock-schemas.js';
import { lockSnapshot } from '../../server/lock-view.js';
import { paint, table } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { openExistingStore } from '../open-store.js';
import { type RemoteFlags, remoteClient, requireRemote } from '../remote.js';

export interface LockFlags extends RemoteFlags, ConfigFlags {
  json?: boolean;
}

const seg = (s: string) => encodeURIComponent(s);
const who = (e: { jobId: number | null; mode: string }) =>
  `${e.jobId === null ? "another owner's job" : `job ${e.jobId}`}${e.mode === 'shared' ? ' (shared)' : ''}`;

export async function locksCommand(flags: LockFlags, io: CliIO): Promise<number> {
  const client = remoteClient(flags, io);
  let locks: LockView[];
  if (client) locks = (await client.request<LockList>('GET', '/api/v1/locks')).results;
  else {
    const store = await openExistingStore(flags, io);
    try {
      locks = await lockSnapshot(store, () => true);
    } finally {
      await store.close();
    }
  }
  if (flags.json) {
    println(io.stdout, JSON.stringify(locks, null, 2));
    return 0;
  }
  if (locks.length === 0) {
    println(io.stdout, paint(styleOf(io), 'gray', 'no locks are held, wanted or declared'));
    return 0;
  }
  const rows = locks.map((l) => [
    l.name,
    l.state,
    l.capacity === null ? '-' : String(l.capacity),
    l.holders.map(who).join(', ') || '-',
    l.queue.map(who).join(', ') || '-',
  ]);
  println(io.stdout, table(['NAME', 'STATE', 'CAPACITY', 'HELD BY', 'QUEUE'], rows));
  return 0;
}

export async function lockSetCommand(
  name: string,
  flags: RemoteFlags & { capacity?: string },
  io: CliIO,
): Promise<number> {
  const capacity = Number(flags.capacity);
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new JobhubError(
      'bad_request',
      `--capacity must be a whole number of at least 1 (got "${flags.capacity}")`,
    );
  }
  const client = requireRemote(flags, io, 'lock set');
  await client.request<LockResponse>('PUT', `/api/v1/locks/${seg(name)}`, {
    body: JSON.stringify({ capacity }),
    contentType: 'application/json',
  });
  println(io.stdout, `lock ${name}: at most ${capacity} holder(s) at once`);
  return 0;
}

export async function lockRemoveCommand(name: string, flags: RemoteFlags, io: CliIO): Promise<number> {
  await requireRemote(flags, io, 'lock rm').request('DELETE', `/api/v1/locks/${seg(name)}`);
  println(io.stdout, `lock ${name}: declaration removed (exclusive by default again)`);
  return 0;
}

export async function lockBreakCommand(name: string, flags: RemoteFlags, io: CliIO): Promise<number> {
  const r = await requireRemote(flags, io, 'lock break').request<BreakResponse>(
    'POST',
    `/api/v1/locks/${seg(name)}/break`,
  );
  println(
    io.stdout,
    r.broken.length === 0
      ? `lock ${name} was not held`
      : `lock ${name} broken: job(s) ${r.broken.join(', ')} hold it no more (they keep running)`,
  );
  return 0;
}
