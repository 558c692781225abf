/** `jobhub agent`: join a server as a node. Loads only what an agent needs, so it stays small:
 * the cost of every process it spawns grows with its own memory. */
import path from 'node:path';
import { type AgentConfig, startAgent } from '../../app/agent.js';
import { JobhubError } from '../../core/errors.js';
import { parseLabelPairs } from '../../core/labels.js';
import { type CliIO, println } from '../io.js';
import { untilSignal } from '../until-signal.js';

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
  concurrency?: string;
  runAs?: string;
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
    labels: parseLabelPairs(flags.label),
    provider: flags.provider ?? 'local',
    stopGraceMs: Number.isFinite(grace) ? grace * 1000 : 10_000,
    concurrency: flags.concurrency === undefined ? 0 : Number(flags.concurrency),
  };
  if (!Number.isInteger(config.concurrency) || config.concurrency < 0) {
    throw new JobhubError(
      'bad_request',
      `--concurrency must be a whole number ≥ 0 (got "${flags.concurrency}")`,
    );
  }
  if (flags.ip) config.ip = flags.ip;
  if (flags.name) config.name = flags.name;
  if (flags.caFile) config.caFile = flags.caFile;
  if (flags.runAs) config.runAs = flags.runAs;
  const log = (line: string) => println(io.stderr, `${new Date().toISOString()} ${line}`);
  const agent = startAgent(config, log);
  println(
    io.stdout,
    `jobhub agent: node ${agent.nodeId}, role ${config.role}, joining ${servers.join(', ')}`,
  );
  return untilSignal(io, () => agent.stop(), 'agent (its tasks are stopped)');
}
