/**
 * PostgreSQL restarted under load (`pg_ctl restart -m fast`, then `-m immediate`) while a job mix
 * runs through a server on it: the server recovers without a restart of its own, and the
 * invariants hold. Runs on a throwaway PostgreSQL of its own (initdb into a temp folder, a free
 * port), never the shared one; skipped with a notice when the binaries are missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Proc, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import {
  CountingClient,
  faultSeed,
  jobMix,
  MIX_LINES,
  pause,
  seededRandom,
  submitMix,
} from './support/crash-harness.js';
import { recordFaults } from './support/fault-report.js';
import { checkAll, type Expectation } from './support/invariants.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const asRoot = process.getuid?.() === 0;
/** Root cannot run PostgreSQL: it runs as the `postgres` user then. */
const pgUser = asRoot ? spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim() : '';
const why = !existsSync(path.join(PG_BIN, 'initdb'))
  ? `no PostgreSQL binaries in ${PG_BIN}`
  : asRoot && !pgUser
    ? 'running as root and no postgres user to run PostgreSQL as'
    : undefined;
if (why) console.warn(`pg-restart: skipped: ${why}`);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** A throwaway PostgreSQL: initdb, start, restart, stop. */
class Throwaway {
  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<Throwaway> {
    const dir = tempDir('jobhub-pg-');
    if (asRoot) chownSync(dir, Number(pgUser), Number(pgUser));
    const pg = new Throwaway(dir, await freePort());
    pg.run('initdb', ['-D', pg.data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    pg.ctl(['start', '-l', path.join(dir, 'log')]);
    return pg;
  }

  get data(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  ctl(args: string[]): void {
    this.run('pg_ctl', [
      ...args,
      '-D',
      this.data,
      '-w',
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    ]);
  }

  stop(): void {
    try {
      this.run('pg_ctl', ['stop', '-D', this.data, '-m', 'immediate', '-w']);
    } catch {
      // not running
    }
  }

  private run(bin: string, args: string[]): void {
    const cmd = path.join(PG_BIN, bin);
    // No pipes: the server pg_ctl starts would inherit them and keep them open.
    const opts = { stdio: 'ignore', timeout: 60_000 } as const;
    try {
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], opts);
      else execFileSync(cmd, args, opts);
    } catch (err) {
      const log = path.join(this.dir, 'log');
      throw new Error(
        `${bin} ${args.join(' ')}: ${String(err)}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : ''}`,
      );
    }
  }
}

const procs: Proc[] = [];
const instances: Throwaway[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  for (const pg of instances.splice(0)) pg.stop();
});

describe('PostgreSQL restarted under load', () => {
  it.skipIf(why !== undefined)(
    'the server recovers by itself and loses nothing',
    { timeout: 120_000 },
    async () => {
      const rng = seededRandom(faultSeed('PostgreSQL restart'));
      const pg = await Throwaway.start();
      instances.push(pg);
      const server = await startServer({
        args: ['--database', pg.url],
        env: { JOBHUB_SERVER_KEY: 'pg-restart-test-key' },
      });
      procs.push(server);
      const client = new CountingClient(server.url);
      const agents = ['pgr-a', 'pgr-b'].map((name) => startAgent({ server: server.url, name }));
      procs.push(...agents);
      const nodeIds = await client.nodeIds(['pgr-a', 'pgr-b']);
      const expected = new Map<number, Expectation>();
      await submitMix(client, jobMix('w0', 'pg-lock'), expected);
      const modes = ['fast', 'immediate'];
      try {
        for (const [i, mode] of modes.entries()) {
          await pause(rng.between(100, 1500));
          pg.ctl(['restart', '-m', mode]);
          await submitMix(client, jobMix(`w${i + 1}`, 'pg-lock'), expected);
        }
        await client.allFinal(expected.keys(), 90_000);
      } catch (err) {
        throw new Error(
          `${String(err)}\nserver (exit ${server.child.exitCode}):\n${server.out().slice(-3000)}\nagents:\n${agents.map((a) => a.out().slice(-1000)).join('\n')}`,
        );
      }
      expect(server.child.exitCode, server.out().slice(-3000)).toBeNull();
      const { result, lines } = await checkAll(server.url, expected, MIX_LINES, nodeIds);
      recordFaults({
        kind: 'PostgreSQL restart',
        injected: modes.length,
        jobs: expected.size,
        linesChecked: lines.checked,
        lost: result.lost,
        doubled: result.doubled,
        leaked: result.leaked,
        serverErrors: client.serverErrors,
      });
      expect(result.problems).toEqual([]);
      expect(client.errors).toEqual([]);
    },
  );
});
