/** `jobhub server` and `jobhub agent`: the long-running processes of a cluster. */
import path from 'node:path';
import { type AgentConfig, startAgent } from '../../app/agent.js';
import { resolveServerConfig, type ServerFlags } from '../../app/server-config.js';
import { JobhubError } from '../../core/errors.js';
import type { Labels } from '../../core/types.js';
import { startServer } from '../../server/server.js';
import { type CliIO, println } from '../io.js';

/** Runs until SIGINT/SIGTERM; then stops gracefully (a second signal exits at once). */
function untilSignal(io: CliIO, stop: () => Promise<void>, what: string): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        println(io.stderr, `jobhub: ${sig} again: exiting now`);
        resolve(1);
        return;
      }
      stopping = true;
      println(io.stderr, `jobhub: ${sig}: stopping the ${what} (again to exit at once)`);
      stop().then(
        () => resolve(0),
        (err: unknown) => {
          println(io.stderr, `jobhub: stopping failed: ${String(err)}`);
          resolve(1);
        },
      );
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  });
}

export async function serverCommand(flags: ServerFlags, io: CliIO): Promise<number> {
  const config = resolveServerConfig(flags, io.env, io.cwd);
  const log = (line: string) => println(io.stderr, `${new Date().toISOString()} ${line}`);
  const server = await startServer(config, log);
  println(io.stdout, `jobhub server listening on ${config.host}:${server.port} (data: ${config.dataDir})`);
  const { admin, agent } = server.createdTokens;
  if (admin || agent) {
    println(io.stdout, 'First start: these tokens were made. They are shown this once; keep them safe.');
    if (admin) println(io.stdout, `  admin token: ${admin}`);
    if (agent) println(io.stdout, `  agent token: ${agent}`);
    if (agent)
      println(
        io.stdout,
        `Start an agent: jobhub agent --server http://<this host>:${server.port} --token ${agent}`,
      );
  }
  return untilSignal(io, () => server.stop(), 'server');
}

export interface AgentFlags {
  server?: string;
  token?: string;
  role?: string;
  label?: string[];
  data?: string;
  ip?: string;
  name?: string;
  provider?: string;
  stopGrace?: string;
  caFile?: string;
}

export function parseLabels(pairs: string[] = []): Labels {
  const labels: Labels = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new JobhubError('bad_request', `label "${pair}" is not key=value`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}

export async function agentCommand(flags: AgentFlags, io: CliIO): Promise<number> {
  const server = flags.server ?? io.env.JOBHUB_SERVER;
  const token = flags.token ?? io.env.JOBHUB_AGENT_TOKEN;
  if (!server)
    throw new JobhubError('bad_request', 'say which server to join: --server URL (or JOBHUB_SERVER)');
  if (!token)
    throw new JobhubError('bad_request', 'an agent token is needed: --token T (or JOBHUB_AGENT_TOKEN)');
  const servers = server
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const s of servers) {
    if (!/^https?:\/\//.test(s)) throw new JobhubError('bad_request', `server "${s}" is not an http(s) URL`);
  }
  const grace = flags.stopGrace ? Number.parseFloat(flags.stopGrace) : Number.NaN;
  const config: AgentConfig = {
    servers,
    token,
    dataDir: path.resolve(io.cwd, flags.data ?? io.env.JOBHUB_AGENT_DATA ?? '.jobhub-agent'),
    role: flags.role ?? 'any',
    labels: parseLabels(flags.label),
    provider: flags.provider ?? 'local',
    stopGraceMs: Number.isFinite(grace) ? grace * 1000 : 10_000,
  };
  if (flags.ip) config.ip = flags.ip;
  if (flags.name) config.name = flags.name;
  if (flags.caFile) config.caFile = flags.caFile;
  const log = (line: string) => println(io.stderr, `${new Date().toISOString()} ${line}`);
  const agent = startAgent(config, log);
  println(
    io.stdout,
    `jobhub agent: node ${agent.nodeId}, role ${config.role}, joining ${servers.join(', ')}`,
  );
  return untilSignal(io, () => agent.stop(), 'agent (its tasks are stopped)');
}
