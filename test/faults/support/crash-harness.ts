/**
 * What the crash tests share: a seeded random source (the seed printed, JOBHUB_FAULT_SEED to
 * replay), an API client that counts 5xx answers, and a job mix whose tasks print numbered lines:
 * short shell tasks, a multi-stage job across two nodes, a long-running service with a readiness
 * probe and a stopper, jobs sharing a lock, and a task that fails.
 */
import { ADMIN, eventually } from '../../helpers/cluster.js';
import { type Expectation, type JobView, type LinePlan, tasksOf } from './invariants.js';

/** A seed from JOBHUB_FAULT_SEED, else a random one; printed so that a failing run can be replayed. */
export function faultSeed(test: string): number {
  const fromEnv = process.env.JOBHUB_FAULT_SEED;
  const seed = fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  console.log(`${test}: fault seed ${seed} (JOBHUB_FAULT_SEED=${seed} replays it)`);
  return seed;
}

/** mulberry32: small, fast, good enough to pick kill times. */
export function seededRandom(seed: number): { next(): number; between(lo: number, hi: number): number } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, between: (lo, hi) => Math.floor(lo + next() * (hi - lo)) };
}

/**
 * The API as a test client sees it: every answer's status is looked at, and 5xx answers counted
 * (a fault test reports them; the suite wants 0). A refused connection (server down) is not an answer.
 */
export class CountingClient {
  serverErrors = 0;
  readonly errors: string[] = [];

  constructor(public server: string) {}

  async request(method: string, route: string, body?: string): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${this.server}${route}`, {
      method,
      headers: {
        'x-api-token': ADMIN,
        ...(body !== undefined ? { 'content-type': 'application/yaml' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    if (res.status >= 500) {
      this.serverErrors++;
      this.errors.push(`${method} ${route}: ${res.status} ${text.slice(0, 300)}`);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }

  async submit(spec: string): Promise<number> {
    const r = await this.request('POST', '/api/v1/jobs', spec);
    if (r.status !== 201 && r.status !== 200)
      throw new Error(`submit: ${r.status} ${JSON.stringify(r.json)}`);
    return (r.json as { id: number }).id;
  }

  async status(id: number): Promise<string | undefined> {
    const r = await this.request('GET', `/api/v1/jobs/${id}`);
    return r.status === 200 ? (r.json as { status: string }).status : undefined;
  }

  /** The ids of the registered nodes with these names, once all are there and not down. */
  async nodeIds(names: readonly string[], timeoutMs = 30_000): Promise<string[]> {
    return eventually(async () => {
      const r = await this.request('GET', '/api/v1/nodes');
      if (r.status !== 200) return undefined;
      const nodes = (r.json as { results: Array<{ id: string; name: string; status: string }> }).results;
      const ids = names.map(
        (n) => nodes.find((x) => x.name === n && x.status !== 'down' && x.status !== 'left')?.id,
      );
      return ids.every((id) => id !== undefined) ? (ids as string[]) : undefined;
    }, timeoutMs);
  }

  /** Waits until every job has a final status (polling: the server may be restarted meanwhile). */
  async allFinal(ids: Iterable<number>, timeoutMs = 60_000): Promise<void> {
    const pending = new Set(ids);
    await eventually(async () => {
      for (const id of [...pending]) {
        try {
          const s = await this.status(id);
          if (s === 'succeeded' || s === 'failed' || s === 'stopped') pending.delete(id);
        } catch {
          return undefined; // server down for a moment
        }
      }
      return pending.size === 0 ? true : undefined;
    }, timeoutMs).catch(async (err: unknown) => {
      const states = await Promise.all([...pending].map((id) => this.describe(id)));
      const nodes = await this.request('GET', '/api/v1/nodes').catch((e: unknown) => ({ json: String(e) }));
      throw new Error(
        `jobs not final: ${String(err)}\n${states.join('\n')}\nnodes: ${JSON.stringify(nodes.json)}`,
      );
    });
  }

  /** One line per job: its status and each task's (for a failure message). */
  async describe(id: number): Promise<string> {
    const r = await this.request('GET', `/api/v1/jobs/${id}`).catch((e: unknown) => ({
      status: 0,
      json: String(e),
    }));
    if (r.status !== 200) return `job ${id}: ${r.status} ${JSON.stringify(r.json)}`;
    const job = r.json as JobView;
    const tasks = tasksOf(job).map(
      (t) => `${t.stage}/${t.node}/${t.name}#${t.attempt} ${t.status} ${t.text ?? ''}`,
    );
    return `job ${id} (${job.name}) ${job.status} ${job.reason ?? job.waitingFor ?? ''}: ${tasks.join('; ')}`;
  }
}

/** A loop printing `line 1`..`line n`, pausing between lines so that faults land mid-output. */
export function printLines(n: number, pause = '0.02'): string {
  return `for i in $(seq 1 ${n}); do echo line $i; sleep ${pause}; done`;
}

/** How many numbered lines each task of the mix prints (task names are unique across the mix). */
export const MIX_LINES: LinePlan = new Map([
  ['short', 30],
  ['build', 20],
  ['test', 20],
  ['service', 5],
  ['loader', 25],
  ['locked', 10],
  ['broken', 5],
]);

/** One job of the mix: its spec and the final status it must reach. */
export interface MixJob {
  spec: string;
  expect: Expectation;
}

/**
 * The job mix, for (at least) two agents: the multi-node jobs have two assignments, which the
 * scheduler maps to distinct nodes. `tag` makes names unique per wave; `lock` is the lock the
 * locked jobs share.
 */
export function jobMix(tag: string, lock: string): MixJob[] {
  const assign = 'nodeAssignments: [{name: a}, {name: b}]';
  const locked = (i: number): MixJob => ({
    spec: `name: locked-${tag}-${i}
locks: [${lock}]
stages: [{name: s, tasks: [{name: locked, shell: {command: "${printLines(MIX_LINES.get('locked') ?? 0)}"}}]}]
`,
    expect: 'succeeded',
  });
  return [
    {
      spec: `name: short-${tag}
stages: [{name: s, tasks: [{name: short, shell: {command: "${printLines(MIX_LINES.get('short') ?? 0)}"}}]}]
`,
      expect: 'succeeded',
    },
    {
      spec: `name: stages-${tag}
${assign}
pipelines: [{stages: [compile]}, {stages: [check]}]
stages:
  - {name: compile, selectors: [{name: a}], tasks: [{name: build, shell: {command: "${printLines(MIX_LINES.get('build') ?? 0)}"}}]}
  - {name: check, selectors: [{name: b}], tasks: [{name: test, shell: {command: "${printLines(MIX_LINES.get('test') ?? 0)}"}}]}
`,
      expect: 'succeeded',
    },
    {
      spec: `name: service-${tag}
${assign}
pipelines: [{stages: [svc]}, {stages: [load]}, {stages: [stop]}]
stages:
  - name: svc
    type: longRunning
    selectors: [{name: a}]
    tasks:
      - name: service
        longRunning: true
        shell: {command: "${printLines(MIX_LINES.get('service') ?? 0, '0.01')}; touch up.flag; while true; do sleep 0.05; done"}
        ready: {interval: 50ms, timeout: 60s, tasks: [{shell: {command: "test -f up.flag"}}]}
  - {name: load, selectors: [{name: b}], tasks: [{name: loader, shell: {command: "${printLines(MIX_LINES.get('loader') ?? 0)}"}}]}
  - {name: stop, type: stopper, tasks: [{name: stop, stopper: {stage: svc, task: service}}]}
`,
      expect: 'succeeded',
    },
    locked(1),
    locked(2),
    {
      spec: `name: broken-${tag}
stages: [{name: s, tasks: [{name: broken, shell: {command: "${printLines(MIX_LINES.get('broken') ?? 0)}; exit 3"}}]}]
`,
      expect: (job) =>
        job.status === 'failed' && /exit code 3/.test(job.reason ?? '')
          ? undefined
          : `${job.status} (${job.reason}), expected failed with exit code 3`,
    },
  ];
}

/** Submits one wave of the mix; adds each job's expectation to `expected`. */
export async function submitMix(
  client: CountingClient,
  mix: readonly MixJob[],
  expected: Map<number, Expectation>,
): Promise<void> {
  for (const job of mix) expected.set(await client.submit(job.spec), job.expect);
}

/** Resolves after `ms` (only for the random delay before a fault: everything else waits on events). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Follows a job's event stream (Server-Sent Events) until an event matches; resolves at once then,
 * so that a fault can be injected within milliseconds of a state change.
 */
export async function untilJobEvent(
  server: string,
  jobId: number,
  matches: (event: { type: string; taskId?: number; from?: string; to?: string }) => boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(`${server}/api/v1/jobs/${jobId}/events?follow=true`, {
      headers: { 'x-api-token': ADMIN, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    if (!res.body) throw new Error(`no event stream: ${res.status}`);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = text.indexOf('\n\n');
      while (end >= 0) {
        const data = text
          .slice(0, end)
          .split('\n')
          .find((l) => l.startsWith('data: '));
        text = text.slice(end + 2);
        if (data && matches(JSON.parse(data.slice(6)) as { type: string })) return;
        end = text.indexOf('\n\n');
      }
    }
    throw new Error(`job ${jobId}: the event stream ended without the event`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
