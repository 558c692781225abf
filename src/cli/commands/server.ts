import { resolveServerConfig, type ServerFlags } from '../../app/server-config.js';
import { startServer } from '../../server/server.js';
import { type CliIO, println } from '../io.js';
import { untilSignal } from '../until-signal.js';

export async function serverCommand(flags: ServerFlags, io: CliIO): Promise<number> {
  const config = resolveServerConfig(flags, io.env, io.cwd);
  const log = (line: string) => println(io.stderr, `${new Date().toISOString()} ${line}`);
  const server = await startServer(config, log);
  const scheme = config.tlsCert ? 'https' : 'http';
  println(
    io.stdout,
    `jobhub server listening on ${config.host}:${server.port} (${scheme}; data: ${config.dataDir})`,
  );
  const { admin, agent } = server.createdTokens;
  if (admin || agent) {
    println(io.stdout, 'First start: these tokens were made. They are shown this once; keep them safe.');
    if (admin) println(io.stdout, `  admin token: ${admin}`);
    if (agent) println(io.stdout, `  agent token: ${agent}`);
    if (agent)
      println(
        io.stdout,
        `Start an agent: jobhub agent --server ${config.tlsCert ? 'https' : 'http'}://<this host>:${server.port} --token ${agent}`,
      );
  }
  return untilSignal(io, () => server.stop(), 'server');
}
