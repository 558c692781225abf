/** `jobhub server`'s configuration: defaults here, then environment, then flags. */
import path from 'node:path';
import { parseDuration } from '../core/duration.js';
import { JobhubError } from '../core/errors.js';
import { isPostgresUrl, redactUrl, splitSchema } from '../store/open.js';

export interface ServerConfig {
  /** Data folder of the SQLite store. Default `./.jobhub-server` (env JOBHUB_DATA). */
  dataDir: string;
  /** Default 8081 (env JOBHUB_PORT). */
  port: number;
  /** Default `0.0.0.0` (env JOBHUB_HOST). */
  host: string;
  /** How often agents and server send heartbeats. Default 5s. */
  heartbeatMs: number;
  /** Silence after which a node is down and its tasks lost. Default 30s. */
  heartbeatTimeoutMs: number;
  /** Time between SIGTERM and SIGKILL when tasks are stopped. Default 10s. */
  stopGraceMs: number;
  /** Largest request body. Default 10 MiB. */
  bodyLimit: number;
  /** A PostgreSQL URL: the store, shared by any number of replicas (env JOBHUB_DATABASE_URL).
   * Default: none, SQLite in the data folder. */
  database?: string;
  /** The PostgreSQL schema (env JOBHUB_DATABASE_SCHEMA). Default `public`. */
  databaseSchema?: string;
  /** Tokens to register at start instead of making new ones (env JOBHUB_ADMIN_TOKEN, JOBHUB_AGENT_TOKEN). */
  adminToken?: string;
  agentToken?: string;
}

export interface ServerFlags {
  data?: string;
  port?: string;
  host?: string;
  heartbeat?: string;
  heartbeatTimeout?: string;
  stopGrace?: string;
  database?: string;
  databaseSchema?: string;
}

export function defaultServerConfig(): ServerConfig {
  return {
    dataDir: '.jobhub-server',
    port: 8081,
    host: '0.0.0.0',
    heartbeatMs: 5000,
    heartbeatTimeoutMs: 30_000,
    stopGraceMs: 10_000,
    bodyLimit: 10 * 1024 * 1024,
  };
}

function duration(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new JobhubError('bad_request', `${name} "${value}" is not a duration (e.g. 5s)`);
  return ms;
}

export function resolveServerConfig(flags: ServerFlags, env: NodeJS.ProcessEnv, cwd: string): ServerConfig {
  const c = defaultServerConfig();
  c.dataDir = path.resolve(cwd, flags.data ?? env.JOBHUB_DATA ?? c.dataDir);
  const port = Number(flags.port ?? env.JOBHUB_PORT ?? c.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new JobhubError('bad_request', `port "${flags.port ?? env.JOBHUB_PORT}" is not a port number`);
  }
  c.port = port;
  c.host = flags.host ?? env.JOBHUB_HOST ?? c.host;
  c.heartbeatMs = duration('--heartbeat', flags.heartbeat ?? env.JOBHUB_HEARTBEAT, c.heartbeatMs);
  c.heartbeatTimeoutMs = duration(
    '--heartbeat-timeout',
    flags.heartbeatTimeout ?? env.JOBHUB_HEARTBEAT_TIMEOUT,
    c.heartbeatTimeoutMs,
  );
  c.stopGraceMs = duration('--stop-grace', flags.stopGrace ?? env.JOBHUB_STOP_GRACE, c.stopGraceMs);
  const database = flags.database ?? env.JOBHUB_DATABASE_URL;
  let urlSchema: string | undefined;
  if (database) {
    if (!isPostgresUrl(database)) {
      throw new JobhubError(
        'bad_request',
        `--database must be a postgres:// URL (got "${redactUrl(database)}")`,
      );
    }
    const split = splitSchema(database);
    c.database = split.url;
    urlSchema = split.schema;
  }
  const schema = flags.databaseSchema ?? env.JOBHUB_DATABASE_SCHEMA ?? urlSchema;
  if (schema) c.databaseSchema = schema;
  if (env.JOBHUB_ADMIN_TOKEN) c.adminToken = env.JOBHUB_ADMIN_TOKEN;
  if (env.JOBHUB_AGENT_TOKEN) c.agentToken = env.JOBHUB_AGENT_TOKEN;
  return c;
}
