/**
 * Job files on a real cluster: a `jobhub server` process and `jobhub agent` processes, real HTTP.
 * Inputs reach every task on every node with the right bytes; chained jobs take outputs by
 * descriptor; failed tasks keep their outputs; workspaces run in fresh copies; hostile archives
 * and cut-off uploads leave nothing; a 1 GiB output streams through a server whose memory stays
 * flat.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobTokens } from '../../src/server/job-tokens.js';
import { ServerKey } from '../../src/server/server-key.js';
import { writeArchive } from '../helpers/archives.js';
import {
  ADMIN,
  api,
  eventually,
  type Proc,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/jobhub.js');
const KEY = 'files-test-server-key';
const FINAL = new Set(['succeeded', 'failed', 'stopped']);

interface FileView {
  path: string;
  size: number;
  sha256: string;
  kind: string;
  task: string | null;
  node: string | null;
  nodeId: string | null;
}
interface JobView {
  id: number;
  status: string;
  reason: string | null;
  held: boolean;
  waitingFor: string | null;
  stages: Array<{
    nodes: Array<{ name: string; tasks: Array<{ name: string; status: string; text: string | null }> }>;
  }>;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const procs: Proc[] = [];

async function finished(server: string, id: number, timeoutMs = 60_000): Promise<JobView> {
  return eventually(async () => {
    const j = await api<JobView>(server, 'GET', `/api/v1/jobs/${id}`);
    return FINAL.has(j.status) ? j : undefined;
  }, timeoutMs);
}

async function files(server: string, id: number): Promise<FileView[]> {
  return (await api<{ files: FileView[] }>(server, 'GET', `/api/v1/jobs/${id}/files`)).files;
}

async function raw(server: string, method: string, route: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has('x-api-token')) headers.set('x-api-token', ADMIN);
  return fetch(`${server}${route}`, { ...init, method, headers });
}

async function text(server: string, route: string): Promise<string> {
  const res = await raw(server, 'GET', route);
  expect(res.status, route).toBe(200);
  return res.text();
}

function blobs(dataDir: string): string[] {
  const root = path.join(dataDir, 'blobs');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) => readdirSync(path.join(root, d)).map((f) => d + f));
}

function tempFiles(dataDir: string): string[] {
  const t = path.join(dataDir, 'blobs', 'tmp');
  return existsSync(t) ? readdirSync(t) : [];
}

async function connected(server: string, n: number): Promise<void> {
  await eventually(async () => {
    const r = await api<{ results: Array<{ connected: boolean }> }>(server, 'GET', '/api/v1/nodes');
    return r.results.filter((x) => x.connected).length >= n ? true : undefined;
  });
}

afterAll(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});

describe('job files on a cluster', () => {
  let server: ServerProc;
  const agents: Array<Proc & { dataDir: string }> = [];

  beforeAll(async () => {
    server = await startServer({ env: { JOBHUB_SERVER_KEY: KEY } });
    procs.push(server);
    for (const [name, role] of [
      ['alpha', 'database'],
      ['beta', 'loader'],
    ] as const) {
      const a = startAgent({ server: server.url, name, role });
      procs.push(a);
      agents.push(a);
    }
    await connected(server.url, 2);
  });

  it("gives a job's input to every task on every node, with the right bytes, checked", async () => {
    const input = randomBytes(3 * 1024 * 1024 + 17);
    const spec = `name: fan-out
nodeAssignments:
  - {name: db, role: database}
  - {name: load, role: loader}
inputs:
  - {name: payload.bin, to: data/payload.bin}
pipelines:
  - {name: one, stages: [first]}
  - {name: two, stages: [second]}
stages:
  - name: first
    tasks:
      - {name: a, shell: {command: "sha256sum data/payload.bin | cut -c1-64 > seen-a.txt"}, outputs: ["seen-*.txt"]}
  - name: second
    tasks:
      - {name: b, shell: {command: "wc -c < data/payload.bin > size-b.txt; sha256sum data/payload.bin | cut -c1-64 > seen-b.txt"}, outputs: ["*-b.txt"]}
`;
    // Held, then uploaded, then released (seed 002's flow).
    const res = await raw(server.url, 'POST', '/api/v1/jobs?hold=true', {
      headers: { 'content-type': 'application/yaml' },
      body: spec,
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: number };
    const held = await api<JobView>(server.url, 'GET', `/api/v1/jobs/${id}`);
    expect(held).toMatchObject({ status: 'queued', held: true, waitingFor: 'held: waiting for release' });
    const up = await raw(server.url, 'POST', `/api/v1/jobs/${id}/files?name=payload.bin`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: input,
    });
    expect(up.status, await up.clone().text()).toBe(201);
    expect(((await up.json()) as { files: FileView[] }).files[0]).toMatchObject({
      path: 'inputs/payload.bin',
      size: input.length,
      sha256: sha(input),
      kind: 'input',
    });
    const rel = await raw(server.url, 'POST', `/api/v1/jobs/${id}/release`);
    expect(rel.status).toBe(202);
    const job = await finished(server.url, id);
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    const list = await files(server.url, id);
    expect(list.map((f) => f.path)).toEqual([
      'inputs/payload.bin',
      'outputs/db/seen-a.txt',
      'outputs/db/seen-b.txt',
      'outputs/db/size-b.txt',
      'outputs/load/seen-a.txt',
      'outputs/load/seen-b.txt',
      'outputs/load/size-b.txt',
    ]);
    for (const f of list.filter((x) => x.path.includes('/seen-'))) {
      expect((await text(server.url, `/api/v1/jobs/${id}/files/${f.path}`)).trim(), f.path).toBe(sha(input));
    }
    for (const n of ['db', 'load']) {
      expect((await text(server.url, `/api/v1/jobs/${id}/files/outputs/${n}/size-b.txt`)).trim()).toBe(
        String(input.length),
      );
    }
    // Two different nodes made them, and say which task.
    const nodes = new Set(list.filter((f) => f.kind === 'output').map((f) => f.nodeId));
    expect(nodes.size).toBe(2);
    expect(list.find((f) => f.path === 'outputs/load/seen-b.txt')?.task).toBe('second/load/b');
    // Released: no more uploads.
    const late = await raw(server.url, 'POST', `/api/v1/jobs/${id}/files?name=late.txt`, { body: 'x' });
    expect(late.status).toBe(409);
    // The tree, and a folder as an archive.
    const tree = await api<{ tree: { children: Array<{ name: string; size: number }> } }>(
      server.url,
      'GET',
      `/api/v1/jobs/${id}/files?tree=true`,
    );
    expect(tree.tree.children.map((c) => c.name)).toEqual(['inputs', 'outputs']);
    expect(tree.tree.children[0]?.size).toBe(input.length);
    const arch = await raw(server.url, 'GET', `/api/v1/jobs/${id}/archive?path=outputs/db`);
    expect(arch.status).toBe(200);
    expect(arch.headers.get('content-type')).toBe('application/gzip');
    const dir = tempDir('jobhub-arch-');
    const file = path.join(dir, 'a.tar.gz');
    writeFileSync(file, Buffer.from(await arch.arrayBuffer()));
    const { listArchive } = await import('../../src/files/archive.js');
    expect((await listArchive(file, 'tar.gz')).map((e) => e.path)).toEqual([
      'db/seen-a.txt',
      'db/seen-b.txt',
      'db/size-b.txt',
    ]);
  });

  it('accepts a spec and its inputs in one multipart request, and refuses a spec whose upload is missing', async () => {
    const form = new FormData();
    form.append(
      'spec',
      'name: multi\ninputs: [{name: a.txt}, {name: b.txt, to: sub/b.txt}]\nstages:\n  - name: s\n    tasks: [{shell: {command: "cat a.txt sub/b.txt > ab.txt"}, outputs: [ab.txt]}]\n',
    );
    form.append('file', new Blob(['hello ']), 'a.txt');
    form.append('b.txt', new Blob(['world\n']), 'whatever-name.txt');
    const res = await raw(server.url, 'POST', '/api/v1/jobs', { body: form });
    expect(res.status, await res.clone().text()).toBe(201);
    const { id } = (await res.json()) as { id: number };
    expect((await finished(server.url, id)).status).toBe('succeeded');
    expect(await text(server.url, `/api/v1/jobs/${id}/files/outputs/ab.txt`)).toBe('hello world\n');

    const missing = await raw(server.url, 'POST', '/api/v1/jobs', {
      headers: { 'content-type': 'application/yaml' },
      body: 'name: m\ninputs: [{name: gone.txt}]\nstages:\n  - name: s\n    tasks: [{shell: {command: "true"}}]\n',
    });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toMatch(
      /the spec names inputs that were not sent: gone\.txt/,
    );
  });

  it("chains jobs: a descriptor takes a previous job's output", async () => {
    const first = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs',
      `name: producer
nodeAssignments: [{name: db, role: database}]
stages:
  - name: s
    tasks: [{shell: {command: "mkdir -p out && seq 1 1000 > out/n.txt"}, outputs: [out]}]
`,
    );
    expect((await finished(server.url, first.id)).status).toBe('succeeded');
    const second = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs',
      `name: consumer
nodeAssignments: [{name: load, role: loader}]
inputs: ["job:${first.id}:out/n.txt:input/numbers.txt"]
stages:
  - name: s
    tasks: [{shell: {command: "awk '{s+=$1} END {print s}' input/numbers.txt > sum.txt"}, outputs: [sum.txt]}]
`,
    );
    const job = await finished(server.url, second.id);
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect((await text(server.url, `/api/v1/jobs/${second.id}/files/outputs/sum.txt`)).trim()).toBe('500500');
    const produced = (await files(server.url, first.id)).find((f) => f.path === 'outputs/out/n.txt');
    const taken = (await files(server.url, second.id)).find((f) => f.path === 'inputs/input/numbers.txt');
    expect(taken?.sha256).toBe(produced?.sha256);
    // A descriptor naming nothing is refused at submission, with seed 003's words.
    const bad = await raw(server.url, 'POST', '/api/v1/jobs', {
      headers: { 'content-type': 'application/yaml' },
      body: `name: c\ninputs: ["job:${first.id}:nope.txt"]\nstages:\n  - name: s\n    tasks: [{shell: {command: "true"}}]\n`,
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe(
      `could not provide file job:${first.id}:nope.txt: job ${first.id} has no file "nope.txt"`,
    );
  });

  it('keeps the outputs of a failed task', async () => {
    const { id } = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs',
      `name: failing
nodeAssignments: [{name: db, role: database}]
stages:
  - name: s
    tasks:
      - {name: crash, shell: {command: "echo 'what happened' > crash.log; exit 4"}, outputs: ["*.log"], keepWorkdir: true}
`,
    );
    const job = await finished(server.url, id);
    expect(job.status).toBe('failed');
    expect(job.stages[0]?.nodes[0]?.tasks[0]?.text).toBe('exit code 4');
    expect(await text(server.url, `/api/v1/jobs/${id}/files/outputs/crash.log`)).toBe('what happened\n');
    expect(await text(server.url, `/api/v1/jobs/${id}/files/workdir/crash.log`)).toBe('what happened\n');
  });

  it('runs a workspace twice as two independent fresh copies', async () => {
    const dir = tempDir('jobhub-ws-');
    const archive = await writeArchive(path.join(dir, 'compendium.zip'), 'zip', [
      { name: 'data/state.txt', content: 'pristine\n' },
      {
        name: 'analysis.sh',
        content: 'cat data/state.txt; echo "changed by $JOBHUB_JOB_ID" >> data/state.txt\n',
      },
    ]);
    const pushed = await raw(server.url, 'POST', '/api/v1/workspaces?name=compendium', {
      headers: { 'content-type': 'application/zip' },
      body: readFileSync(archive),
    });
    expect(pushed.status, await pushed.clone().text()).toBe(201);
    const ws = ((await pushed.json()) as { workspace: { id: string; sha256: string; format: string } })
      .workspace;
    expect(ws.format).toBe('zip');
    const spec = `name: research
nodeAssignments: [{name: db, role: database}]
workspace: compendium
stages:
  - name: s
    tasks: [{shell: {command: "sh analysis.sh > before.txt"}, keepWorkdir: true}]
`;
    const ids: number[] = [];
    for (let i = 0; i < 2; i++)
      ids.push((await api<{ id: number }>(server.url, 'POST', '/api/v1/jobs', spec)).id);
    for (const id of ids) {
      expect((await finished(server.url, id)).status).toBe('succeeded');
      // Each saw the pristine state, and changed only its own copy.
      expect(await text(server.url, `/api/v1/jobs/${id}/files/workdir/before.txt`)).toBe('pristine\n');
      expect(await text(server.url, `/api/v1/jobs/${id}/files/workdir/data/state.txt`)).toBe(
        `pristine\nchanged by ${id}\n`,
      );
    }
    const list = await api<{ results: Array<{ id: string; sha256: string }> }>(
      server.url,
      'GET',
      '/api/v1/workspaces',
    );
    expect(list.results.find((w) => w.id === ws.id)?.sha256).toBe(sha(readFileSync(archive)));
    // Two job directories on the node, not one.
    const work = path.join(agents[0]?.dataDir ?? '', 'work');
    for (const id of ids) expect(existsSync(path.join(work, `job-${id}`, 'analysis.sh'))).toBe(true);
  });

  for (const format of ['tar.gz', 'zip'] as const) {
    it(`refuses a ${format} workspace with ../../etc/passwd, an absolute path or an escaping link, keeping nothing`, async () => {
      const dir = tempDir('jobhub-bad-');
      const before = blobs(server.dataDir).sort();
      const cases: Array<[string, Parameters<typeof writeArchive>[2], RegExp]> = [
        [
          'dotdot',
          [{ name: '../../etc/passwd', content: 'x' }],
          /entry "\.\.\/\.\.\/etc\/passwd" has "\.\." in its path/,
        ],
        [
          'absolute',
          [{ name: '/etc/cron.d/evil', content: 'x' }],
          /entry "\/etc\/cron\.d\/evil" has an absolute path/,
        ],
        [
          'link',
          [
            { name: 'up', type: 'symlink', target: '../../..' },
            { name: 'ok.txt', content: 'x' },
          ],
          /link "up" -> "\.\.\/\.\.\/\.\." points out of the archive/,
        ],
      ];
      for (const [name, entries, message] of cases) {
        const file = await writeArchive(path.join(dir, `${name}.${format}`), format, entries);
        const res = await raw(server.url, 'POST', `/api/v1/workspaces?name=bad-${name}`, {
          headers: { 'content-type': 'application/octet-stream' },
          body: readFileSync(file),
        });
        expect(res.status, name).toBe(400);
        const body = (await res.json()) as { error: string; code: string };
        expect(body.code).toBe('bad_request');
        expect(body.error).toMatch(message);
      }
      expect(blobs(server.dataDir).sort()).toEqual(before);
      const names = (await api<{ results: Array<{ name: string }> }>(server.url, 'GET', '/api/v1/workspaces'))
        .results;
      expect(names.some((w) => w.name.startsWith('bad-'))).toBe(false);
    });
  }

  it('leaves no file when an upload is cut off midway (inputs and outputs)', async () => {
    const { id } = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs?hold=true',
      'name: cut\nstages:\n  - name: s\n    tasks: [{shell: {command: "sleep 5"}}]\n',
    );
    const before = blobs(server.dataDir).sort();
    const cut = async (route: string, headers: Record<string, string>) => {
      const sock = net.connect(server.port, '127.0.0.1');
      await new Promise<void>((r) => sock.once('connect', () => r()));
      const head = Object.entries({ host: '127.0.0.1', 'content-length': String(10 << 20), ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      sock.write(`POST ${route} HTTP/1.1\r\n${head}\r\n`);
      sock.write(randomBytes(1 << 20));
      await new Promise((r) => setTimeout(r, 300));
      sock.destroy();
    };
    await cut(`/api/v1/jobs/${id}/files?name=big.bin`, {
      'x-api-token': ADMIN,
      'content-type': 'application/octet-stream',
    });
    // An agent's output upload cut off the same way (the job token from the server's key).
    await api(server.url, 'POST', `/api/v1/jobs/${id}/release`);
    await eventually(async () => {
      const j = await api<JobView>(server.url, 'GET', `/api/v1/jobs/${id}`);
      return j.status === 'running' ? true : undefined;
    });
    await cut(`/api/v1/agent/jobs/${id}/outputs?task=1&kind=output&path=big.bin`, {
      'x-job-token': new JobTokens(ServerKey.from(KEY)).sign(id),
      'content-type': 'application/octet-stream',
    });
    await eventually(async () => (tempFiles(server.dataDir).length === 0 ? true : undefined), 5000);
    expect(await files(server.url, id)).toEqual([]);
    expect(blobs(server.dataDir).sort()).toEqual(before);
    // A wrong token opens nothing.
    const wrong = await raw(
      server.url,
      'POST',
      `/api/v1/agent/jobs/${id}/outputs?task=1&kind=output&path=x`,
      {
        headers: { 'x-job-token': new JobTokens(ServerKey.from(KEY)).sign(id + 1) },
        body: 'x',
      },
    );
    expect(wrong.status).toBe(403);
    await api(server.url, 'POST', `/api/v1/jobs/${id}/stop?force=true`);
  });

  it('deletes a finished job with its files (409 before it ends), and the CLI lists, downloads and submits inputs', async () => {
    const dir = tempDir('jobhub-cli-');
    writeFileSync(
      path.join(dir, 'job.yaml'),
      `name: cli
nodeAssignments: [{name: db, role: database}]
inputs: [{name: numbers.txt}]
stages:
  - name: s
    tasks: [{shell: {command: "mkdir -p res && sort -n numbers.txt | tail -1 > res/max.txt"}, outputs: [res]}]
`,
    );
    writeFileSync(path.join(dir, 'n.txt'), '3\n41\n7\n');
    const env = { ...process.env, JOBHUB_SERVER: server.url, JOBHUB_TOKEN: ADMIN, NO_COLOR: '1' };
    const run = promisify(execFile);
    const sub = await run(
      process.execPath,
      [BIN, 'submit', 'job.yaml', '--input', 'numbers.txt=n.txt', '--wait'],
      {
        cwd: dir,
        env,
      },
    );
    const id = Number(/job (\d+) submitted/.exec(sub.stdout)?.[1]);
    expect(sub.stdout).toMatch(new RegExp(`job ${id} succeeded`));
    const listed = await run(process.execPath, [BIN, 'files', String(id)], { cwd: dir, env });
    expect(listed.stdout).toMatch(/inputs\/numbers\.txt\s+7 B/);
    expect(listed.stdout).toMatch(/outputs\/res\/max\.txt\s+3 B\s+[0-9a-f]{12}\s+output\s+s\/db\/task-0/);
    await run(process.execPath, [BIN, 'download', String(id), 'outputs/res/max.txt', '-o', 'one'], {
      cwd: dir,
      env,
    });
    expect(readFileSync(path.join(dir, 'one', 'max.txt'), 'utf8')).toBe('41\n');
    await run(process.execPath, [BIN, 'download', String(id)], { cwd: dir, env });
    expect(readFileSync(path.join(dir, `job-${id}`, 'outputs', 'res', 'max.txt'), 'utf8')).toBe('41\n');
    expect(readFileSync(path.join(dir, `job-${id}`, 'inputs', 'numbers.txt'), 'utf8')).toBe('3\n41\n7\n');

    const mine = (await files(server.url, id)).map((f) => f.sha256);
    const del = await raw(server.url, 'DELETE', `/api/v1/jobs/${id}`);
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ id, deleted: true, files: 2 });
    expect((await raw(server.url, 'GET', `/api/v1/jobs/${id}`)).status).toBe(404);
    const left = new Set(blobs(server.dataDir));
    for (const s of mine) expect(left.has(s)).toBe(false);

    const { id: held } = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs?hold=true',
      'name: h\nstages:\n  - name: s\n    tasks: [{shell: {command: "true"}}]\n',
    );
    const conflict = await raw(server.url, 'DELETE', `/api/v1/jobs/${held}`);
    expect(conflict.status).toBe(409);
    await api(server.url, 'POST', `/api/v1/jobs/${held}/stop`);
  });

  it('refuses a staged input whose bytes changed: checksums are verified on the node', async () => {
    const { id } = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs?hold=true',
      'name: tamper\nnodeAssignments: [{name: db, role: database}]\ninputs: [{name: t.txt}]\nstages:\n  - name: s\n    tasks: [{shell: {command: "cat t.txt"}}]\n',
    );
    const content = `original ${randomBytes(8).toString('hex')}\n`;
    await raw(server.url, 'POST', `/api/v1/jobs/${id}/files?name=t.txt`, { body: content });
    const blob = path.join(server.dataDir, 'blobs', sha(content).slice(0, 2), sha(content).slice(2));
    writeFileSync(blob, content.replace('original', 'tampered'));
    await api(server.url, 'POST', `/api/v1/jobs/${id}/release`);
    const job = await finished(server.url, id);
    expect(job.status).toBe('failed');
    expect(job.stages[0]?.nodes[0]?.tasks[0]?.text).toMatch(
      /files: input "inputs\/t\.txt" does not match its checksum/,
    );
  });
});

describe('job files: limits, retention, memory', () => {
  it('refuses files over the limits with 413 and keeps nothing; retention removes old files', async () => {
    const server = await startServer({
      args: ['--max-file-size', '1MiB', '--max-job-files-size', '1536KiB', '--retention', '1s'],
      env: { JOBHUB_RETENTION_CHECK: '200ms' },
    });
    procs.push(server);
    const agent = startAgent({ server: server.url, name: 'solo' });
    procs.push(agent);
    await connected(server.url, 1);
    const { id } = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs?hold=true',
      'name: lim\nstages:\n  - name: s\n    tasks: [{shell: {command: "head -c 2000000 /dev/zero > big.bin; echo ok > small.txt"}, outputs: [big.bin, small.txt]}]\n',
    );
    const tooBig = await raw(server.url, 'POST', `/api/v1/jobs/${id}/files?name=a.bin`, {
      body: Buffer.alloc((1 << 20) + 1),
    });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: string }).error).toMatch(/larger than the limit of 1\.0 MiB/);
    const ok = await raw(server.url, 'POST', `/api/v1/jobs/${id}/files?name=b.bin`, {
      body: Buffer.alloc(1 << 20),
    });
    expect(ok.status).toBe(201);
    const over = await raw(server.url, 'POST', `/api/v1/jobs/${id}/files?name=c.bin`, {
      body: Buffer.alloc(600 * 1024),
    });
    expect(over.status).toBe(413);
    expect((await files(server.url, id)).map((f) => f.path)).toEqual(['inputs/b.bin']);
    expect(blobs(server.dataDir)).toHaveLength(1);
    // The task's 2 MB output is refused too: the task fails, saying so; the small one is kept.
    await api(server.url, 'POST', `/api/v1/jobs/${id}/release`);
    const job = await finished(server.url, id);
    expect(job.status).toBe('failed');
    expect(job.stages[0]?.nodes[0]?.tasks[0]?.text).toMatch(
      /outputs were not kept: 1 file\(s\) not kept \(big\.bin: the server answered 413: output "big\.bin" \(1\.9 MiB\) is larger than the limit of 512 KiB\)/,
    );
    expect((await files(server.url, id)).map((f) => f.path)).toEqual(['inputs/b.bin', 'outputs/small.txt']);
    // Retention (1s, checked every 200ms): the files go, the job stays.
    await eventually(async () => ((await files(server.url, id)).length === 0 ? true : undefined), 10_000);
    expect((await api<JobView>(server.url, 'GET', `/api/v1/jobs/${id}`)).status).toBe('failed');
    // The rows go first, then their blobs (never a row without its blob).
    await eventually(async () => (blobs(server.dataDir).length === 0 ? true : undefined), 10_000);
  });

  it('streams a 1 GiB output through the server without its memory growing (VmRSS sampled)', {
    timeout: 180_000,
  }, async () => {
    const server = await startServer();
    procs.push(server);
    const agent = startAgent({ server: server.url, name: 'big' });
    procs.push(agent);
    await connected(server.url, 1);
    const pid = server.child.pid as number;
    const rss = () => {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0) * 1024;
    };
    // Expected: 1 GiB of zeros, hashed as a stream.
    const hash = createHash('sha256');
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 1024; i++) hash.update(zeros);
    const expected = hash.digest('hex');
    // Warm up (the first job loads and compiles code paths), then take the baseline.
    const warm = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs',
      'name: warm\nstages:\n  - name: s\n    tasks: [{shell: {command: "head -c 1048576 /dev/zero > w.bin"}, outputs: [w.bin]}]\n',
    );
    expect((await finished(server.url, warm.id)).status).toBe('succeeded');
    await new Promise((r) => setTimeout(r, 500));
    const baseline = rss();
    const samples: number[] = [];
    const timer = setInterval(() => samples.push(rss()), 100);
    const started = Date.now();
    try {
      const { id } = await api<{ id: number }>(
        server.url,
        'POST',
        '/api/v1/jobs',
        'name: big\nstages:\n  - name: s\n    tasks: [{shell: {command: "head -c 1073741824 /dev/zero > big.bin"}, outputs: [big.bin]}]\n',
      );
      const job = await finished(server.url, id, 170_000);
      expect(job.status, JSON.stringify(job)).toBe('succeeded');
      const [f] = await files(server.url, id);
      expect(f).toMatchObject({ path: 'outputs/big.bin', size: 1024 ** 3, sha256: expected });
      const blob = path.join(server.dataDir, 'blobs', expected.slice(0, 2), expected.slice(2));
      expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/VmRSS/);
      const { statSync } = await import('node:fs');
      expect(statSync(blob).size).toBe(1024 ** 3);
    } finally {
      clearInterval(timer);
    }
    const max = Math.max(...samples);
    const grew = max - baseline;
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `1 GiB output: server VmRSS baseline ${mib(baseline)}, max ${mib(max)}, grew ${mib(grew)} ` +
        `(${samples.length} samples over ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    expect(samples.length).toBeGreaterThan(10);
    expect(grew).toBeLessThan(64 * 1024 * 1024);
  });
});
