/**
 * Commands that change things: `submit`, `stop`, `retry`, `nodes`, `drain`. Against a server; `stop`
 * and `nodes` also work on the local data folder (a `jobhub run` in another terminal is stopped as
 * Ctrl-C would stop it).
 */
import { resolveConfig } from '../../app/config.js';
import { claimAlive } from '../../app/run-claims.js';
import { JobhubError } from '../../core/errors.js';
import type { NodeView, SubmitResponse } from '../../server/api-schemas.js';
import { nodeView } from '../../server/job-view.js';
import { loadSpec } from '../../spec/index.js';
import { parseParamArgs, resolveParams } from '../../spec/params.js';
import { mark, paint, table, time } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { describeEvent } from '../live-view.js';
import { openExistingStore, parseJobId } from '../open-store.js';
import { eventFromView, type RemoteFlags, remoteClient, requireRemote } from '../remote.js';
import { readText } from '../spec-file.js';

export interface SubmitOptions extends RemoteFlags {
  wait?: boolean;
  json?: boolean;
  /** Files to upload as the job's inputs (`path` or `name=path`). */
  input?: string[];
  /** Parameter values, `name=value`. */
  param?: string[];
  /** Submit this stored template (`name` or `name@version`) instead of a file. */
  template?: string;
}

/** Submits a spec (or a template); with --wait follows it to its end. Exit codes as `jobhub run`. */
export async function submitCommand(
  file: string | undefined,
  opts: SubmitOptions,
  io: CliIO,
): Promise<number> {
  const client = requireRemote(opts, io, 'submit');
  const params = opts.param ?? [];
  parseParamArgs(params); // name=value, checked before a round trip
  let send: (held: boolean) => Promise<SubmitResponse>;
  if (opts.template !== undefined) {
    if (file !== undefined) throw new JobhubError('bad_request', 'give a FILE or --template, not both');
    const ref = opts.template;
    send = (held) => client.submitTemplate(ref, params, held);
  } else {
    if (file === undefined) throw new JobhubError('bad_request', 'give a FILE to submit, or --template NAME');
    const text = readText(file);
    // Located errors and parameter errors here, before a round trip (the server checks again).
    resolveParams(loadSpec(text, file).spec, parseParamArgs(params));
    const type = /^\s*[{[]/.test(text) ? 'application/json' : 'application/yaml';
    send = (held) => (held ? client.submitHeld(text, type, params) : client.submitSpec(text, type, params));
  }
  const { id, job } =
    opts.input && opts.input.length > 0
      ? await (await import('./files.js')).submitWithInputs(client, () => send(true), opts.input, io)
      : await send(false);
  if (!opts.wait) {
    println(io.stdout, opts.json ? JSON.stringify(job, null, 2) : `job ${id} submitted (${job.name})`);
    return 0;
  }
  const style = styleOf(io);
  if (!opts.json)
    println(
      io.stdout,
      `job ${id} submitted (${job.name}); following it (Ctrl-C stops following, not the job)`,
    );
  for await (const e of client.followJobEvents(id)) {
    const ev = eventFromView(e);
    println(io.stdout, opts.json ? JSON.stringify(ev) : describeEvent(ev, style));
  }
  const final = await client.getJob(id);
  if (!opts.json)
    println(
      io.stdout,
      `${mark(style, final.status)} job ${id} ${final.status}${final.reason ? `: ${final.reason}` : ''}`,
    );
  return final.status === 'succeeded' ? 0 : 1;
}

export async function stopCommand(
  idText: string,
  opts: RemoteFlags & { data?: string; force?: boolean; json?: boolean },
  io: CliIO,
) {
  const id = parseJobId(idText);
  const client = remoteClient(opts, io);
  if (client) {
    const { job } = await client.stopJob(id, opts.force ? { force: true } : {});
    println(io.stdout, opts.json ? JSON.stringify(job, null, 2) : `job ${id} ${job.status}`);
    return 0;
  }
  // Local: the job belongs to a `jobhub run` process; ask it to stop as Ctrl-C would.
  const config = resolveConfig({ data: opts.data }, io.env, io.cwd);
  const store = await openExistingStore({ data: opts.data }, io);
  try {
    const job = await store.getJob(id);
    if (!job) throw new JobhubError('not_found', `job ${id} not found`);
    if (['succeeded', 'failed', 'stopped'].includes(job.status)) {
      throw new JobhubError('conflict', `job ${id} is already ${job.status}`);
    }
    const claim = claimAlive(config.dataDir, id);
    if (!claim.alive || claim.pid === undefined)
      throw new JobhubError('conflict', `no running jobhub process holds job ${id}`);
    process.kill(claim.pid, opts.force ? 'SIGKILL' : 'SIGINT');
    const said = `job ${id}: asked its jobhub run process (pid ${claim.pid}) to stop it`;
    println(
      io.stdout,
      opts.json ? JSON.stringify({ id, pid: claim.pid, signal: opts.force ? 'SIGKILL' : 'SIGINT' }) : said,
    );
    return 0;
  } finally {
    await store.close();
  }
}

export async function retryCommand(idText: string, opts: RemoteFlags & { json?: boolean }, io: CliIO) {
  const client = requireRemote(opts, io, 'retry');
  const { id, job } = await client.retryJob(parseJobId(idText));
  println(
    io.stdout,
    opts.json ? JSON.stringify(job, null, 2) : `job ${id} submitted as a retry of job ${idText}`,
  );
  return 0;
}

export async function nodesCommand(opts: RemoteFlags & { data?: string; json?: boolean }, io: CliIO) {
  const style = styleOf(io);
  const client = remoteClient(opts, io);
  let nodes: NodeView[];
  if (client) nodes = (await client.listNodes()).results;
  else {
    const store = await openExistingStore({ data: opts.data }, io);
    try {
      nodes = (await store.listNodes()).map((n) => nodeView(n, false));
    } finally {
      await store.close();
    }
  }
  if (opts.json) {
    println(io.stdout, JSON.stringify(nodes, null, 2));
    return 0;
  }
  println(
    io.stdout,
    table(
      ['ID', 'NAME', 'STATE', 'ROLE', 'IP', 'LABELS', 'CPUS', 'MEMORY', 'SEEN'],
      nodes.map((n) => [
        n.id,
        n.name,
        `${mark(style, n.state)} ${n.state}${client && !n.connected ? paint(style, 'gray', ' (disconnected)') : ''}`,
        n.role,
        n.addr.ip,
        Object.entries(n.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        String(n.capacity.cpus),
        `${Math.round(n.capacity.memoryMb / 1024)}Gi`,
        time(Date.parse(n.lastSeenAt)),
      ]),
    ),
  );
  return 0;
}

export async function drainCommand(
  nodeId: string,
  opts: RemoteFlags & { undo?: boolean; json?: boolean },
  io: CliIO,
) {
  const client = requireRemote(opts, io, 'drain');
  const { node } = await client.drainNode(nodeId, !opts.undo);
  println(io.stdout, opts.json ? JSON.stringify(node, null, 2) : `node ${node.id} is ${node.state}`);
  return 0;
}
