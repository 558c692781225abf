/**
 * The server's data folder full (a small tmpfs) while a job prints lines: submitting answers a clear
 * error in the error format (never a 500), reads keep working, nothing acknowledged is lost, and
 * once space is freed the job finishes with every line once and new jobs run. An unwritable data
 * folder at start: a clear message and exit code, no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN, AGENT, eventually, type Proc, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import { CountingClient, printLines } from './support/crash-harness.js';
import { recordFaults } from './support/fault-report.js';
import { checkFaultRun } from './support/fault-run.js';
import type { Expectation } from './support/invariants.js';
import { canMount, fillDisk, smallDisk, unmountSmallDisks } from './support/small-disk.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/jobhub.js');
if (!canMount) console.warn('disk-faults: the full-disk test needs root (mount -t tmpfs); skipped');

const procs: Proc[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  unmountSmallDisks();
});

describe('disk faults', () => {
  it.skipIf(!canMount)(
    'a full data folder: a clear error, reads served, nothing acknowledged lost',
    {
      timeout: 60_000,
    },
    async () => {
      const data = smallDisk('24m');
      const server = await startServer({ dataDir: data });
      procs.push(server);
      const client = new CountingClient(server.url);
      procs.push(startAgent({ server: server.url, name: 'disk' }));
      const [nodeId = ''] = await client.nodeIds(['disk']);
      const during = await client.submit(`name: during
stages: [{name: s, tasks: [{name: printer, shell: {command: "${printLines(60, '0.05')}"}}]}]
`);
      await eventually(async () => {
        const r = await client.request('GET', `/api/v1/jobs/${during}/logs`);
        return (r.json as { lines: unknown[] }).lines.length >= 3 ? true : undefined;
      });
      const filler = fillDisk(data);
      const spec = `name: after
stages: [{name: s, tasks: [{name: late, shell: {command: "${printLines(5)}"}}]}]
`;
      // Submitting while full: a clear error, in the error format.
      const refused = await client.request('POST', '/api/v1/jobs', spec);
      expect([503, 507], JSON.stringify(refused.json)).toContain(refused.status);
      const body = refused.json as { error: string; code: string };
      expect(body.code).toBe('insufficient_storage');
      expect(body.error).toMatch(/space|full/i);
      // Reads are served.
      const list = await client.request('GET', '/api/v1/jobs');
      expect(list.status).toBe(200);
      expect((await client.request('GET', `/api/v1/jobs/${during}`)).status).toBe(200);
      rmSync(filler);
      const after = await client.submit(spec);
      await client.allFinal([during, after], 30_000);
      const expected = new Map<number, Expectation>([
        [during, 'succeeded'],
        [after, 'succeeded'],
      ]);
      const plan = new Map([
        ['printer', 60],
        ['late', 5],
      ]);
      await checkFaultRun(server.url, {
        kind: 'full disk (server data)',
        injected: 1,
        expected,
        plan,
        nodeIds: [nodeId],
        clientErrors: client.errors.filter((e) => !/: 50[37] /.test(e)),
      });
      expect(server.child.exitCode).toBeNull();
    },
  );

  it('an unwritable data folder at start: a clear message and exit code, no stack trace', () => {
    // Under a regular file: unwritable for every user, root included.
    const file = path.join(tempDir('jobhub-disk-'), 'a-file');
    closeSync(openSync(file, 'w'));
    const r = spawnSync(process.execPath, [BIN, 'server', '--port', '0', '--data', path.join(file, 'data')], {
      encoding: 'utf8',
      env: { ...process.env, JOBHUB_ADMIN_TOKEN: ADMIN, JOBHUB_AGENT_TOKEN: AGENT, NO_COLOR: '1' },
      timeout: 20_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(3);
    expect(out).toContain(path.join(file, 'data'));
    expect(out).not.toMatch(/^\s+at /m);
    recordFaults({ kind: 'unwritable data folder', injected: 1 });
  });
});
