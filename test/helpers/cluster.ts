/**
 * Test harness for a real cluster: a `jobhub server` process, `jobhub agent` processes (each in its
 * own network namespace with its own IP where `ip netns` works, as root on CI), real HTTP.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { tempDir } from './embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/jobhub.js');
export const ADMIN = 'test-admin-token';
export const AGENT = 'test-agent-token';

export interface Proc {
  child: ChildProcess;
  out: () => string;
  /** Resolves with the first stdout+stderr match (waits for it). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(sig?: NodeJS.Signals): Promise<number | null>;
}

function watch(child: ChildProcess): Proc {
  let text = '';
  const waiters: Array<() => void> = [];
  const onData = (b: Buffer) => {
    text += b.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    out: () => text,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re} in:\n${text.slice(-3000)}`)),
          timeoutMs,
        );
        let over = false;
        const check = () => {
          if (over) return;
          const m = re.exec(text);
          if (m) {
            over = true;
            clearTimeout(timer);
            resolve(m);
          } else waiters.push(check);
        };
        // A process that exits before saying it fails now, with what it said, not at the timeout.
        void exited.then((code) => {
          if (over || re.exec(text)) return;
          over = true;
          clearTimeout(timer);
          reject(new Error(`exited (${code}) before ${re} appeared:\n${text.slice(-3000)}`));
        });
        check();
      });
    },
    async kill(sig = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      return exited;
    },
  };
}

export interface ServerProc extends Proc {
  url: string;
  port: number;
  dataDir: string;
}

export async function startServer(
  opts: { dataDir?: string; port?: number; args?: string[]; env?: Record<string, string> } = {},
): Promise<ServerProc> {
  const dataDir = opts.dataDir ?? tempDir('jobhub-server-');
  const child = spawn(
    process.execPath,
    [BIN, 'server', '--port', String(opts.port ?? 0), '--data', dataDir, ...(opts.args ?? [])],
    {
      env: {
        ...process.env,
        JOBHUB_ADMIN_TOKEN: ADMIN,
        JOBHUB_AGENT_TOKEN: AGENT,
        NO_COLOR: '1',
        ...opts.env,
      },
    },
  );
  const p = watch(child);
  const m = await p.waitFor(/listening on [^:]+:(\d+)/);
  const port = Number(m[1]);
  return { ...p, url: `http://127.0.0.1:${port}`, port, dataDir };
}

export interface AgentOpts {
  server: string;
  role?: string;
  name?: string;
  labels?: string[];
  dataDir?: string;
  netns?: string;
  args?: string[];
  /** Extra environment (tasks inherit the agent's). */
  env?: Record<string, string>;
}

export function startAgent(opts: AgentOpts): Proc & { dataDir: string } {
  const dataDir = opts.dataDir ?? tempDir('jobhub-agent-');
  const args = [
    BIN,
    'agent',
    '--server',
    opts.server,
    '--token',
    AGENT,
    '--data',
    dataDir,
    '--stop-grace',
    '1',
  ];
  if (opts.role) args.push('--role', opts.role);
  if (opts.name) args.push('--name', opts.name);
  for (const l of opts.labels ?? []) args.push('--label', l);
  args.push(...(opts.args ?? []));
  const env = { ...process.env, NO_COLOR: '1', ...opts.env };
  const child = opts.netns
    ? spawn('ip', ['netns', 'exec', opts.netns, process.execPath, ...args], { env })
    : spawn(process.execPath, args, { env });
  return { ...watch(child), dataDir };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the jobhub CLI against a server (as the admin unless `token` says otherwise). */
export function runCli(
  server: string,
  args: string[],
  opts: { cwd?: string; token?: string; input?: string; env?: Record<string, string> } = {},
): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    encoding: 'utf8',
    input: opts.input ?? '',
    env: {
      ...process.env,
      NO_COLOR: '1',
      JOBHUB_SERVER: server,
      JOBHUB_TOKEN: opts.token ?? ADMIN,
      ...opts.env,
    },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function api<T>(
  server: string,
  method: string,
  route: string,
  body?: string,
  type = 'application/yaml',
): Promise<T> {
  const res = await fetch(`${server}${route}`, {
    method,
    headers: { 'x-api-token': ADMIN, ...(body !== undefined ? { 'content-type': type } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Polls the API until `check` returns a value (for state that no stream is followed for). */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Network namespaces with their own IPs on a bridge, when this machine lets us (root, iproute2). */
export class NetnsLab {
  readonly bridge: string;
  readonly gateway: string;
  private readonly names: string[] = [];
  private readonly prefix: string;
  private readonly subnet: number;

  private constructor() {
    const id = randomBytes(2).toString('hex');
    this.prefix = `jh${id}`;
    this.bridge = `${this.prefix}br`;
    this.subnet = 100 + (Number.parseInt(id, 16) % 100);
    this.gateway = `10.${this.subnet}.0.1`;
  }

  /** A lab, or undefined (and why) when namespaces cannot be made here. */
  static create(): { lab?: NetnsLab; why?: string } {
    if (process.getuid?.() !== 0) return { why: 'not root' };
    const lab = new NetnsLab();
    try {
      execFileSync('ip', ['link', 'add', lab.bridge, 'type', 'bridge'], { stdio: 'pipe' });
      execFileSync('ip', ['addr', 'add', `${lab.gateway}/24`, 'dev', lab.bridge], { stdio: 'pipe' });
      execFileSync('ip', ['link', 'set', lab.bridge, 'up'], { stdio: 'pipe' });
      return { lab };
    } catch (err) {
      lab.destroy();
      return { why: `ip netns unavailable: ${String(err).split('\n')[0]}` };
    }
  }

  /** Adds a namespace with the given last octet; returns its name and IP. */
  add(octet: number): { ns: string; ip: string } {
    const ns = `${this.prefix}n${octet}`;
    const veth = `${this.prefix}v${octet}`;
    const ip = `10.${this.subnet}.0.${octet}`;
    const run = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' });
    run('netns', 'add', ns);
    this.names.push(ns);
    run('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    run('link', 'set', veth, 'master', this.bridge);
    run('link', 'set', veth, 'up');
    run('-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    run('-n', ns, 'link', 'set', 'eth0', 'up');
    run('-n', ns, 'link', 'set', 'lo', 'up');
    run('-n', ns, 'route', 'add', 'default', 'via', this.gateway);
    return { ns, ip };
  }

  destroy(): void {
    for (const ns of this.names.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
      } catch {
        // already gone
      }
    }
    try {
      execFileSync('ip', ['link', 'del', this.bridge], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  }
}
