/** Test harness: a real embedded jobhub (SQLite file in a temp dir, local agents, real processes). */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultConfig } from '../../src/app/config.js';
import { type Embedded, startEmbedded } from '../../src/app/embedded.js';
import type { BusMessage, EventBus } from '../../src/engine/event-bus.js';
import { loadSpec } from '../../src/spec/index.js';
import type { EventRecord, JobDetail, JobRecord } from '../../src/store/store.js';

const made: string[] = [];

/** A fresh temporary folder, removed after the test file (see test/setup.ts). */
export function tempDir(prefix = 'jobhub-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every folder tempDir made in this test file (a 1 GiB output must not outlive its test). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface Harness extends Embedded {
  dir: string;
  run(specText: string): Promise<{ job: JobRecord; detail: JobDetail; events: EventRecord[] }>;
  submit(specText: string): Promise<JobRecord>;
  finish(jobId: number): Promise<{ job: JobRecord; detail: JobDetail; events: EventRecord[] }>;
  dispose(): Promise<void>;
}

export async function harness(opts: { stopGraceMs?: number } = {}): Promise<Harness> {
  const dir = tempDir();
  const app = await startEmbedded({
    ...defaultConfig(),
    dataDir: dir,
    stopGraceMs: opts.stopGraceMs ?? 2000,
  });
  const submit = (text: string) => app.coordinator.submit({ spec: loadSpec(text).spec, rawSpec: text });
  const finish = async (jobId: number) => {
    const job = await app.coordinator.waitForEnd(jobId);
    const detail = await app.store.getJobDetail(jobId);
    if (!detail) throw new Error(`job ${jobId} vanished`);
    const events = await app.store.listEvents({ jobId, limit: 100_000 });
    return { job, detail, events };
  };
  return {
    ...app,
    dir,
    submit,
    finish,
    async run(text) {
      const job = await submit(text);
      return finish(job.id);
    },
    async dispose() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first event that matches, published after the call. */
export function nextEvent(bus: EventBus, match: (e: EventRecord) => boolean): Promise<EventRecord> {
  return new Promise((resolve) => {
    const off = bus.subscribe((m: BusMessage) => {
      if (m.kind !== 'events') return;
      const e = m.events.find(match);
      if (e) {
        off();
        resolve(e);
      }
    });
  });
}

export function task(detail: JobDetail, label: string) {
  const [stage, node, name] = label.split('/');
  const t = detail.tasks.find((x) => x.stage === stage && x.node === node && x.name === name);
  if (!t)
    throw new Error(
      `no task ${label}: ${detail.tasks.map((x) => `${x.stage}/${x.node}/${x.name}`).join(', ')}`,
    );
  return t;
}

/** Pids of live processes whose environment has `key=value` (the way tests find leftovers). */
export function pidsWithEnv(key: string, value: string): number[] {
  const needle = `${key}=${value}`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(needle) && !isZombie(Number(entry))) out.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** Waits for a condition that no event announces (a process appearing), checking every 10ms. */
export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
