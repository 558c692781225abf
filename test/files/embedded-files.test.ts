/**
 * Job files in embedded mode (`jobhub run`'s composition): local agents fetch inputs and
 * workspaces from the blob store and store outputs into it, through the same FileService the
 * server's routes use.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/index.js';
import { tarBuffer, writeArchive } from '../helpers/archives.js';
import { type Harness, harness, tempDir } from '../helpers/embedded.js';

let h: Harness;
beforeEach(async () => {
  h = await harness({ stopGraceMs: 1000 });
});
afterEach(async () => {
  await h.dispose();
});

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

async function submitHeld(text: string) {
  return h.coordinator.submit({ spec: loadSpec(text).spec, rawSpec: text, held: true });
}

async function readFile(jobId: number, p: string): Promise<string> {
  const { stream } = await h.files.open(jobId, p);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function blobCount(): number {
  const root = path.join(h.dir, 'blobs');
  if (!existsSync(root)) return 0;
  return readdirSync(root)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .reduce((n, d) => n + readdirSync(path.join(root, d)).length, 0);
}

describe('job files (embedded)', () => {
  it('stages uploaded inputs into every task, verified, and keeps the outputs the globs match', async () => {
    const job = await submitHeld(`name: inputs
nodeAssignments: [{name: a}, {name: b}]
inputs:
  - name: data.txt
    to: in/data.txt
stages:
  - name: s
    tasks:
      - shell: {command: "sha256sum in/data.txt | cut -d' ' -f1 > seen-$JOBHUB_NODE.txt; mkdir -p r; echo hi > r/x.log"}
        outputs: ["seen-*.txt", "r"]
`);
    expect(job.held).toBe(true);
    const content = 'line 1\nline 2\n'.repeat(1000);
    await h.files.addInput(job.id, 'data.txt', Readable.from([Buffer.from(content)]));
    await new Promise((r) => setTimeout(r, 100));
    expect((await h.store.getJob(job.id))?.status).toBe('queued');
    expect((await h.store.getJob(job.id))?.waitingFor).toBe('held: waiting for release');
    await h.coordinator.release(job.id);
    const { job: done } = await h.finish(job.id);
    expect(done.status, done.reason ?? '').toBe('succeeded');
    const files = await h.store.listFiles(job.id);
    expect(files.map((f) => `${f.kind} ${f.path}`)).toEqual([
      'input inputs/data.txt',
      'output outputs/a/r/x.log',
      'output outputs/a/seen-a.txt',
      'output outputs/b/r/x.log',
      'output outputs/b/seen-b.txt',
    ]);
    for (const n of ['a', 'b'])
      expect((await readFile(job.id, `outputs/${n}/seen-${n}.txt`)).trim()).toBe(sha(content));
    const out = files.find((f) => f.path === 'outputs/a/seen-a.txt');
    expect(out?.taskId).toBe(1);
    expect(out?.nodeId).toMatch(/^local-a-/);
    await expect(h.files.addInput(job.id, 'late.txt', Readable.from([Buffer.from('x')]))).rejects.toThrow(
      /is not held/,
    );
  });

  it("chains jobs: a descriptor takes a previous job's output, sharing its blob", async () => {
    const first = await h.run(`name: producer
stages:
  - name: s
    tasks:
      - shell: {command: "mkdir -p res && seq 1 500 > res/numbers.txt"}
        outputs: ["res/*.txt"]
`);
    expect(first.job.status).toBe('succeeded');
    const blobs = blobCount();
    const second = await h.run(`name: consumer
inputs:
  - job:${first.job.id}:res/numbers.txt:data/n.txt
  - from: job:${first.job.id}:outputs/res/numbers.txt
    to: again.txt
stages:
  - name: s
    tasks:
      - shell: {command: "awk '{s+=$1} END {print s}' data/n.txt > sum.txt; cmp data/n.txt again.txt"}
        outputs: [sum.txt]
`);
    expect(second.job.status, second.job.reason ?? '').toBe('succeeded');
    expect((await readFile(second.job.id, 'outputs/sum.txt')).trim()).toBe('125250');
    const inputs = (await h.store.listFiles(second.job.id)).filter((f) => f.kind === 'input');
    const produced = await h.store.getFile(first.job.id, 'outputs/res/numbers.txt');
    expect(inputs.map((f) => f.path)).toEqual(['inputs/again.txt', 'inputs/data/n.txt']);
    for (const f of inputs) expect(f.sha256).toBe(produced?.sha256);
    expect(blobCount()).toBe(blobs + 1); // only sum.txt is new
  });

  it('fails a job whose descriptor names no file, before anything runs', async () => {
    const { job, detail } = await h.run(`name: missing
inputs: ["job:999:nothing.txt"]
stages:
  - name: s
    tasks: [{shell: {command: "touch ran"}}]
`);
    expect(job.status).toBe('failed');
    expect(job.reason).toBe('inputs: could not provide file job:999:nothing.txt: there is no job 999');
    expect(detail.tasks.map((t) => t.status)).toEqual(['skipped']);
  });

  it('fails a released job whose named upload never came', async () => {
    const job = await submitHeld(`name: noupload
inputs: [{name: params.json}]
stages:
  - name: s
    tasks: [{shell: {command: "true"}}]
`);
    await h.coordinator.release(job.id);
    const { job: done } = await h.finish(job.id);
    expect(done.status).toBe('failed');
    expect(done.reason).toMatch(/input "params.json" was not uploaded/);
  });

  it('keeps the outputs of a failed task, and of the tasks stopped because of it', async () => {
    const { job, detail } = await h.run(`name: failing
nodeAssignments: [{name: a}]
stages:
  - name: s
    tasks:
      - name: bad
        shell: {command: "echo partial > result.log; exit 3"}
        outputs: [result.log]
`);
    expect(job.status).toBe('failed');
    expect(detail.tasks[0]?.exitCode).toBe(3);
    expect(await readFile(job.id, 'outputs/result.log')).toBe('partial\n');
    const logs = await h.store.readLogs({ jobId: job.id });
    expect(logs.map((l) => l.text)).toContain('outputs: 1 file(s), 8 B kept');
  });

  it('runs a workspace in a fresh copy per job, and keeps the final working directory', async () => {
    const dir = tempDir('jobhub-ws-');
    const archive = await writeArchive(path.join(dir, 'c.tar.gz'), 'tar.gz', [
      { name: 'data/counter.txt', content: '0\n' },
      {
        name: 'run.sh',
        content: 'echo $(( $(cat data/counter.txt) + 1 )) > data/counter.txt\n',
        mode: 0o755,
      },
    ]);
    const w = await h.files.pushWorkspace('compendium', null, Readable.from([readFileSync(archive)]));
    expect(w.format).toBe('tar.gz');
    const spec = `name: research
workspace: compendium
stages:
  - name: s
    tasks:
      - shell: {command: "sh run.sh; cat data/counter.txt"}
        keepWorkdir: true
`;
    const one = await h.run(spec);
    const two = await h.run(spec);
    for (const r of [one, two]) {
      expect(r.job.status, r.job.reason ?? '').toBe('succeeded');
      const logs = await h.store.readLogs({ jobId: r.job.id });
      expect(logs.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual(['1']);
      expect(await readFile(r.job.id, 'workdir/data/counter.txt')).toBe('1\n');
      const kinds = (await h.store.listFiles(r.job.id)).map((f) => `${f.kind} ${f.path}`);
      expect(kinds).toEqual([
        'workdir workdir/data/counter.txt',
        'workdir workdir/run.sh',
        'workspace workspace/compendium.tar.gz',
      ]);
    }
    // The two jobs' directories are separate copies; the stored archive never changed.
    const stored = await h.store.getWorkspace('compendium');
    expect(stored?.sha256).toBe(sha(readFileSync(archive)));
  });

  it('deletes a finished job with its files; blobs another job shares stay', async () => {
    const a = await h.run(`name: a
stages:
  - name: s
    tasks: [{shell: {command: "echo shared > s.txt; echo mine-a > own.txt"}, outputs: ["*.txt"]}]
`);
    const b = await h.run(`name: b
stages:
  - name: s
    tasks: [{shell: {command: "echo shared > s.txt"}, outputs: ["*.txt"]}]
`);
    expect(blobCount()).toBe(2);
    expect(await h.files.deleteJob(a.job.id)).toEqual({ files: 2 });
    expect(await h.store.getJob(a.job.id)).toBeUndefined();
    expect(await h.store.listFiles(a.job.id)).toEqual([]);
    expect(blobCount()).toBe(1);
    expect(await readFile(b.job.id, 'outputs/s.txt')).toBe('shared\n');
    const events = await h.store.listEvents({ jobId: a.job.id, types: ['job.deleted'] });
    expect(events.map((e) => e.data)).toEqual([{ files: 2 }]);
  });

  it('refuses to delete a job that has not ended', async () => {
    const job = await submitHeld(
      'name: held\nstages:\n  - name: s\n    tasks: [{shell: {command: "true"}}]\n',
    );
    await expect(h.files.deleteJob(job.id)).rejects.toThrow(/is queued: only a finished job can be deleted/);
  });

  it('removes the files of jobs ended longer ago than the retention, keeping the jobs', async () => {
    const old = await h.run(`name: old
stages:
  - name: s
    tasks: [{shell: {command: "echo x > x.txt"}, outputs: [x.txt]}]
`);
    expect(blobCount()).toBe(1);
    expect(await h.files.sweep(60_000)).toEqual({ jobs: 0, files: 0 });
    await new Promise((r) => setTimeout(r, 30));
    expect(await h.files.sweep(10)).toEqual({ jobs: 1, files: 1 });
    expect(await h.store.listFiles(old.job.id)).toEqual([]);
    expect((await h.store.getJob(old.job.id))?.status).toBe('succeeded');
    expect(blobCount()).toBe(0);
  });
});

describe('orphan blobs', () => {
  it('sweeps blobs nothing refers to once they are old enough, and keeps the others', async () => {
    const { utimes } = await import('node:fs/promises');
    const { FsBlobStore } = await import('../../src/files/fs-blob-store.js');
    const { FileService } = await import('../../src/files/file-service.js');
    const h2 = await harness();
    try {
      const blobs = new FsBlobStore(path.join(h2.dir, 'orphan-blobs'));
      let now = Date.now();
      const files = new FileService({ store: h2.store, blobs, now: () => now });
      const kept = await files.pushWorkspace(
        'w',
        null,
        Readable.from([await tarBuffer([{ name: 'a', content: 'a' }])]),
      );
      const orphan = await blobs.put(Readable.from([Buffer.from('left by a crash')]));
      const fresh = await blobs.put(Readable.from([Buffer.from('being uploaded elsewhere')]));
      const old = new Date(now - 2 * 3600_000);
      for (const sha of [kept.sha256, orphan.sha256]) {
        const file = blobs.localPath(sha);
        if (file) await utimes(file, old, old);
      }
      expect(await files.sweepOrphans()).toBe(1);
      const left: string[] = [];
      for await (const sha of blobs.list()) left.push(sha);
      expect(left.sort()).toEqual([kept.sha256, fresh.sha256].sort());
      now += 2 * 3600_000;
      expect(await files.sweepOrphans()).toBe(1); // the fresh one, now old and still unreferenced
    } finally {
      await h2.dispose();
    }
  });
});
