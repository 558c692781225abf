/**
 * TLS end to end: a server on --tls-cert/--tls-key (a self-signed certificate made by openssl for
 * 127.0.0.1), an agent that trusts it with --ca-file and runs a job whose output file travels back
 * over https, an agent that does not trust it and says why, and the CLI over https.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, type Proc, type ServerProc, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/jobhub.js');
const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;
if (!HAVE_OPENSSL) console.warn('TLS tests skipped: openssl is not installed');

let dir = '';
let cert = '';
let key = '';
let server: ServerProc;
let base = '';
const procs: Proc[] = [];

/** An https call that trusts only the test's certificate. */
function call(method: string, route: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${route}`,
      {
        method,
        ca: readFileSync(cert),
        headers: {
          'x-api-token': ADMIN,
          ...(body !== undefined ? { 'content-type': 'application/yaml' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (b: Buffer) => {
          text += b.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function finished(id: number): Promise<{ status: string }> {
  for (let i = 0; i < 300; i++) {
    const j = JSON.parse((await call('GET', `/api/v1/jobs/${id}`)).text) as { status: string };
    if (['succeeded', 'failed', 'stopped'].includes(j.status)) return j;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not end`);
}

beforeAll(async () => {
  if (!HAVE_OPENSSL) return;
  dir = tempDir('jobhub-tls-');
  cert = path.join(dir, 'cert.pem');
  key = path.join(dir, 'key.pem');
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=jobhub-test',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { encoding: 'utf8' },
  );
  expect(made.status, made.stderr).toBe(0);
  server = await startServer({ args: ['--tls-cert', cert, '--tls-key', key] });
  procs.push(server);
  base = `https://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  for (const p of procs) await p.kill();
});

describe.skipIf(!HAVE_OPENSSL)('TLS', () => {
  it('serves https only, and says so', async () => {
    expect(server.out()).toMatch(/listening on .*:\d+ \(https;/);
    const plain = await fetch(`http://127.0.0.1:${server.port}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });

  it('runs a job on an agent that trusts the CA; its output comes back over https', async () => {
    const agent = startAgent({ server: base, name: 'tls-node', args: ['--ca-file', cert] });
    procs.push(agent);
    await agent.waitFor(/connected to https:\/\/127\.0\.0\.1:\d+ as node/);
    const spec = `name: tls
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "echo over-tls > out.txt"}, outputs: [out.txt]}
`;
    const submitted = await call('POST', '/api/v1/jobs', spec);
    expect(submitted.status, submitted.text).toBe(201);
    const { id } = JSON.parse(submitted.text) as { id: number };
    expect((await finished(id)).status).toBe('succeeded');
    const files = JSON.parse((await call('GET', `/api/v1/jobs/${id}/files`)).text) as {
      files: Array<{ path: string }>;
    };
    const out = files.files.find((f) => f.path.endsWith('out.txt'));
    expect(out).toBeDefined();
    expect((await call('GET', `/api/v1/jobs/${id}/files/${out?.path}`)).text).toBe('over-tls\n');
  });

  it('an agent without the CA does not connect, and says why', async () => {
    const agent = startAgent({ server: base, name: 'untrusting' });
    procs.push(agent);
    await agent.waitFor(/cannot reach https:.*certificate.*give its CA with --ca-file/);
    expect(agent.out()).not.toMatch(/connected to/);
  });

  it('the CLI speaks https when NODE_EXTRA_CA_CERTS trusts the CA, and tells how otherwise', () => {
    const env = { ...process.env, JOBHUB_TOKEN: ADMIN, NO_COLOR: '1' };
    const trusted = spawnSync(process.execPath, [BIN, 'nodes', '--server', base], {
      encoding: 'utf8',
      env: { ...env, NODE_EXTRA_CA_CERTS: cert },
    });
    expect(trusted.status, trusted.stderr).toBe(0);
    expect(trusted.stdout).toMatch(/tls-node/);
    const untrusted = spawnSync(process.execPath, [BIN, 'nodes', '--server', base], {
      encoding: 'utf8',
      env,
    });
    expect(untrusted.status).not.toBe(0);
    expect(untrusted.stderr).toMatch(/cannot reach .*certificate.*NODE_EXTRA_CA_CERTS/);
  });
});
