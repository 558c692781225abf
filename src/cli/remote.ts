/**
 * Which server the CLI talks to: `--server`/`--token` flags, then `JOBHUB_SERVER`/`JOBHUB_TOKEN`,
 * then a config file (`$JOBHUB_CONFIG`, else `~/.config/jobhub/config.yaml`) with `server:` and
 * `token:`. Without a server, the read commands use the local data folder (embedded mode).
 * Also: API views turned back into the records the terminal renderers draw.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { JobhubError } from '../core/errors.js';
import type { EventView, JobDetailView } from '../server/api-schemas.js';
import type { JobSpec } from '../spec/model.js';
import type { EventRecord, EventType, JobDetail, StageRecord, TaskRecord } from '../store/store.js';
import { ApiClient } from './client.js';
import type { CliIO } from './io.js';

export interface RemoteFlags {
  server?: string;
  token?: string;
}

interface ConfigFile {
  server?: string;
  token?: string;
}

function configFile(io: CliIO): ConfigFile {
  const file =
    io.env.JOBHUB_CONFIG ?? path.join(io.env.HOME ?? os.homedir(), '.config', 'jobhub', 'config.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const value: unknown = parse(text);
  if (value === null || typeof value !== 'object')
    throw new JobhubError('bad_request', `${file}: not a mapping`);
  const c = value as Record<string, unknown>;
  return {
    ...(typeof c.server === 'string' ? { server: c.server } : {}),
    ...(typeof c.token === 'string' ? { token: c.token } : {}),
  };
}

/** The client for the configured server, or undefined when none is configured. */
export function remoteClient(flags: RemoteFlags, io: CliIO): ApiClient | undefined {
  const file = flags.server || io.env.JOBHUB_SERVER ? {} : configFile(io);
  const server = flags.server ?? io.env.JOBHUB_SERVER ?? file.server;
  if (!server) return undefined;
  const token = flags.token ?? io.env.JOBHUB_TOKEN ?? file.token;
  return new ApiClient({ server, ...(token ? { token } : {}) });
}

/** Like remoteClient, for commands that only make sense against a server. */
export function requireRemote(flags: RemoteFlags, io: CliIO, what: string): ApiClient {
  const client = remoteClient(flags, io);
  if (!client) {
    throw new JobhubError(
      'bad_request',
      `${what} needs a server: pass --server URL (or set JOBHUB_SERVER, or server: in ~/.config/jobhub/config.yaml)`,
    );
  }
  return client;
}

const ms = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

/** An event as the API gives it, as the store keeps it (for describeEvent). */
export function eventFromView(e: EventView): EventRecord {
  const { ts, ...rest } = e;
  return { ...rest, type: e.type as EventType, ts: Date.parse(ts) };
}

/** A job as the API gives it (status tree + spec), as the store keeps it (for renderTree). */
export function detailFromView(view: JobDetailView, spec: JobSpec): JobDetail {
  const stages: StageRecord[] = view.stages.map((s, i) => ({
    jobId: view.id,
    name: s.name,
    index: spec.stages.findIndex((x) => x.name === s.name) ?? i,
    status: s.status,
    startedAt: ms(s.startedAt),
    readyAt: ms(s.readyAt),
    endedAt: ms(s.endedAt),
  }));
  const tasks: TaskRecord[] = view.stages
    .flatMap((s) =>
      s.nodes.flatMap((n) =>
        n.tasks.map((t) => ({
          jobId: view.id,
          id: t.id,
          stage: s.name,
          node: n.name,
          name: t.name,
          index: spec.stages.find((x) => x.name === s.name)?.tasks.findIndex((x) => x.name === t.name) ?? 0,
          longRunning: t.longRunning,
          status: t.status,
          attempt: t.attempt,
          nodeId: n.nodeId,
          startedAt: ms(t.startedAt),
          readyAt: ms(t.readyAt),
          endedAt: ms(t.endedAt),
          exitCode: t.exitCode,
          text: t.text,
          nodeInstance: null,
        })),
      ),
    )
    .sort((a, b) => a.id - b.id);
  return {
    job: {
      id: view.id,
      name: view.name,
      status: view.status,
      owner: view.owner,
      labels: view.labels,
      rawSpec: '',
      spec,
      placement: view.placement,
      createdAt: Date.parse(view.createdAt),
      startedAt: ms(view.startedAt),
      endedAt: ms(view.endedAt),
      reason: view.reason,
      waitingFor: view.waitingFor,
      stopRequested: view.stopRequested,
      retryOf: view.retryOf,
      held: view.held,
      submitter: view.submitter ?? null,
      params: view.params ?? null,
      template: view.template ?? null,
    },
    stages,
    tasks,
  };
}
