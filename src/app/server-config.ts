/** `jobhub server`'s configuration: defaults here, then environment, then flags. */
import path from 'node:path';
import { parseDuration } from '../core/duration.js';
import { JobhubError } from '../core/errors.js';
import { parseSize } from '../core/size.js';
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
  /** Requests per second per API token (burst: twice that); 0 turns it off. Default 200 (env JOBHUB_RATE_LIMIT). */
  rateLimit: number;
  /** PEM certificate and key files: serve HTTPS (and WSS to agents). Default: none, plain HTTP
   * (env JOBHUB_TLS_CERT, JOBHUB_TLS_KEY). */
  tlsCert?: string;
  tlsKey?: string;
  /** Tokens to register at start instead of making new ones (env JOBHUB_ADMIN_TOKEN, JOBHUB_AGENT_TOKEN). */
  adminToken?: string;
  agentToken?: string;
  /** Job files: largest single file (default 1 GiB) and largest sum per job (default 10 GiB). */
  maxFileSize: number;
  maxJobFilesSize: number;
  /** Where file contents (blobs) are kept. Default `<data>/blobs` (env JOBHUB_FILES_DIR); replicas
   * on PostgreSQL must share one (a shared mount) until an S3-compatible store exists. */
  filesDir?: string;
  /** Files of jobs that ended longer ago are removed (the jobs stay). Default: kept forever. */
  retentionMs?: number;
  /** How often retention is checked. Default 1h (env JOBHUB_RETENTION_CHECK). */
  retentionCheckMs: number;
  /** HTTP connection limits against slow clients (slowloris), see HttpTimeouts. */
  http: HttpTimeouts;
  /** On SIGTERM, requests under way get this long to finish; then their connections are closed.
   * Default 10s (env JOBHUB_SHUTDOWN_GRACE). */
  shutdownGraceMs: number;
  /** External backends file (YAML or JSON, see docs/backends.md). Default: none (env JOBHUB_BACKENDS). */
  backendsFile?: string;
  /** The URL backends reach this server at (their hooks). Default: the address it listens on
   * (env JOBHUB_PUBLIC_URL). */
  publicUrl?: string;
}

/**
 * How long the server waits on a client before it closes the connection: a client that sends its
 * headers or body a byte at a time holds a socket, not a worker, but without limits such sockets
 * pile up for ever.
 */
export interface HttpTimeouts {
  /** Time to receive a request's headers. Default 20s (env JOBHUB_HEADERS_TIMEOUT). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (uploads: raise it for big files on slow
   * links); 0: no limit. Default 10m (env JOBHUB_REQUEST_TIMEOUT). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. Default 72s (env JOBHUB_KEEP_ALIVE_TIMEOUT). */
  keepAliveTimeoutMs: number;
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
  rateLimit?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxFileSize?: string;
  maxJobFilesSize?: string;
  retention?: string;
  filesDir?: string;
  backends?: string;
  publicUrl?: string;
  headersTimeout?: string;
  requestTimeout?: string;
  keepAliveTimeout?: string;
  shutdownGrace?: string;
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
    rateLimit: 200,
    maxFileSize: 1024 ** 3,
    maxJobFilesSize: 10 * 1024 ** 3,
    retentionCheckMs: 60 * 60 * 1000,
    http: { headersTimeoutMs: 20_000, requestTimeoutMs: 10 * 60_000, keepAliveTimeoutMs: 72_000 },
    shutdownGraceMs: 10_000,
  };
}

function size(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = parseSize(value);
  if (n === undefined || n <= 0)
    throw new JobhubError('bad_request', `${name} "${value}" is not a size (e.g. 1GiB, 500M)`);
  return n;
}

/** A duration that may also be given in days (`30d`). */
function longDuration(name: string, value: string): number {
  const days = /^\s*(\d+(?:\.\d+)?)\s*d\s*$/.exec(value);
  const ms = days ? Number(days[1]) * 86_400_000 : parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new JobhubError('bad_request', `${name} "${value}" is not a duration (e.g. 30d, 12h)`);
  return ms;
}

function duration(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new JobhubError('bad_request', `${name} "${value}" is not a duration (e.g. 5s)`);
  return ms;
}

/** A duration, or `0` for none. */
function durationOrOff(name: string, value: string | undefined, fallback: number): number {
  if (value !== undefined && value.trim() === '0') return 0;
  return duration(name, value, fallback);
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
  c.maxFileSize = size('--max-file-size', flags.maxFileSize ?? env.JOBHUB_MAX_FILE_SIZE, c.maxFileSize);
  c.maxJobFilesSize = size(
    '--max-job-files-size',
    flags.maxJobFilesSize ?? env.JOBHUB_MAX_JOB_FILES_SIZE,
    c.maxJobFilesSize,
  );
  const filesDir = flags.filesDir ?? env.JOBHUB_FILES_DIR;
  if (filesDir) c.filesDir = path.resolve(cwd, filesDir);
  const backends = flags.backends ?? env.JOBHUB_BACKENDS;
  if (backends) c.backendsFile = path.resolve(cwd, backends);
  const publicUrl = flags.publicUrl ?? env.JOBHUB_PUBLIC_URL;
  if (publicUrl) c.publicUrl = publicUrl.replace(/\/+$/, '');
  const retention = flags.retention ?? env.JOBHUB_RETENTION;
  if (retention !== undefined && retention !== 'none') c.retentionMs = longDuration('--retention', retention);
  if (env.JOBHUB_RETENTION_CHECK)
    c.retentionCheckMs = longDuration('JOBHUB_RETENTION_CHECK', env.JOBHUB_RETENTION_CHECK);
  const rate = flags.rateLimit ?? env.JOBHUB_RATE_LIMIT;
  if (rate !== undefined) {
    const n = Number(rate);
    if (rate.trim() === '' || !Number.isFinite(n) || n < 0)
      throw new JobhubError(
        'bad_request',
        `--rate-limit "${rate}" is not a number of requests a second (0: off)`,
      );
    c.rateLimit = n;
  }
  const cert = flags.tlsCert ?? env.JOBHUB_TLS_CERT;
  const key = flags.tlsKey ?? env.JOBHUB_TLS_KEY;
  if ((cert === undefined) !== (key === undefined))
    throw new JobhubError('bad_request', 'give both --tls-cert and --tls-key, or neither');
  if (cert !== undefined && key !== undefined) {
    c.tlsCert = path.resolve(cwd, cert);
    c.tlsKey = path.resolve(cwd, key);
  }
  c.http = {
    headersTimeoutMs: duration(
      '--headers-timeout',
      flags.headersTimeout ?? env.JOBHUB_HEADERS_TIMEOUT,
      c.http.headersTimeoutMs,
    ),
    requestTimeoutMs: durationOrOff(
      '--request-timeout',
      flags.requestTimeout ?? env.JOBHUB_REQUEST_TIMEOUT,
      c.http.requestTimeoutMs,
    ),
    keepAliveTimeoutMs: duration(
      '--keep-alive-timeout',
      flags.keepAliveTimeout ?? env.JOBHUB_KEEP_ALIVE_TIMEOUT,
      c.http.keepAliveTimeoutMs,
    ),
  };
  if (c.http.requestTimeoutMs > 0 && c.http.headersTimeoutMs > c.http.requestTimeoutMs)
    throw new JobhubError('bad_request', '--headers-timeout must not be longer than --request-timeout');
  c.shutdownGraceMs = duration(
    '--shutdown-grace',
    flags.shutdownGrace ?? env.JOBHUB_SHUTDOWN_GRACE,
    c.shutdownGraceMs,
  );
  if (env.JOBHUB_ADMIN_TOKEN) c.adminToken = env.JOBHUB_ADMIN_TOKEN;
  if (env.JOBHUB_AGENT_TOKEN) c.agentToken = env.JOBHUB_AGENT_TOKEN;
  return c;
}
