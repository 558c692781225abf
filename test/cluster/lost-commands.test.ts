/**
 * Commands the store says were sent but no agent got, and decisions whose write failed: replicas
 * built in this process (the real gateway, replica and coordinator on the real PostgreSQL, a real
 * agent process) with one fault forged at a time. In each case the job must still end.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/engine/coordinator.js';
import { EventBus } from '../../src/engine/event-bus.js';
import { AgentGateway } from '../../src/server/agent-gateway.js';
import { PgLink } from '../../src/server/cluster-link.js';
import { ClusterPlacer } from '../../src/server/cluster-placer.js';
import type { Principal } from '../../src/server/context.js';
import { ControlPlane } from '../../src/server/control-plane.js';
import { Replica } from '../../src/server/replica.js';
import { loadSpec } from '../../src/spec/index.js';
import { PostgresStore } from '../../src/store/postgres/index.js';
import type { Store } from '../../src/store/store.js';
import { eventually, type Proc, startAgent } from '../helpers/cluster.js';

const PG = process.env.JOBHUB_TEST_PG_URL;
if (!PG) console.warn('lost-commands tests skipped: set JOBHUB_TEST_PG_URL=postgres://... to run them');

const SPEC = `name: lost-commands
nodeAssignments: [{name: n}]
stages:
  - {name: s, selectors: [{name: n}], tasks: [{name: t, shell: {command: "echo done"}}]}
`;

/** What happens to the next notification carrying commands (not a reconciliation's `ready`). */
type CmdFault = 'none' | 'fail' | 'drop';

/** The PostgreSQL link with one forged fault on the `cmd` channel. */
class FaultyLink extends PgLink {
  fault: CmdFault = 'none';
  hits = 0;

  override async notify(channel: string, payload: string): Promise<void> {
    if (channel === 'cmd' && this.fault !== 'none' && !payload.includes('"ready"')) {
      const fault = this.fault;
      this.fault = 'none';
      this.hits++;
      // `drop`: as if the lease holder died right after its commit, before notifying.
      if (fault === 'drop') return;
      throw new Error('forged: the notification failed');
    }
    return super.notify(channel, payload);
  }
}

interface InProcessReplica {
  url: string;
  store: Store;
  link: FaultyLink;
  replica: Replica;
  logs: string[];
  stop(): Promise<void>;
}

const agentPrincipal: Principal = {
  tokenId: 'test-agent',
  kind: 'agent',
  name: 'agent',
  userId: null,
  userName: null,
  serverAdmin: false,
  scope: 'full',
  actFor: false,
  orgs: new Map(),
};

interface Faults {
  /** Wraps the store (to make some of its calls fail). Default: none. */
  wrap?: (s: Store) => Store;
  /** Agent token checks that fail (the store unreachable) before they work. Default 0. */
  authFailures?: number;
}

/** A server replica as server.ts builds one, without the HTTP API, with the faults asked for. */
async function startReplica(schema: string, faults: Faults = {}): Promise<InProcessReplica> {
  const url = PG ?? '';
  const logs: string[] = [];
  const log = (line: string) => logs.push(`${new Date().toISOString()} ${line}`);
  const pgStore = PostgresStore.open(url, { schema });
  await pgStore.migrate();
  const store = faults.wrap ? faults.wrap(pgStore) : pgStore;
  let authFailures = faults.authFailures ?? 0;
  const bus = new EventBus();
  const link = new FaultyLink(url, schema, log);
  let replica: Replica | undefined;
  const leader = () => replica?.leader();
  const gateway = new AgentGateway({
    store,
    bus,
    link,
    mode: 'inbox',
    coordinator: leader,
    auth: {
      check: async () => {
        if (authFailures-- > 0) throw new Error('forged: connect ECONNREFUSED');
        return agentPrincipal;
      },
    },
    heartbeatMs: 500,
    heartbeatTimeoutMs: 20_000,
    log,
  });
  const control = new ControlPlane({ store, link, leader, now: Date.now });
  const r = new Replica({
    store,
    bus,
    link,
    gateway,
    control: () => control,
    mode: 'inbox',
    leaseCheckMs: 200,
    log,
    makeCoordinator: () => {
      const c: Coordinator = new Coordinator({
        store,
        bus,
        placer: new ClusterPlacer(
          store,
          (n) => gateway.isLive(n),
          () => c,
        ),
        agents: gateway,
        stopGraceMs: 1000,
        onError: (err) => log(`internal error: ${String(err)}`),
      });
      return c;
    },
  });
  replica = r;
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  await gateway.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  await r.start();
  const port = (http.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    link,
    replica: r,
    logs,
    stop() {
      stopping ??= (async () => {
        gateway.close();
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
        await r.stop();
        await link.close();
        await pgStore.close();
      })();
      return stopping;
    },
  };
}

const replicas: InProcessReplica[] = [];
const procs: Proc[] = [];
let schemaSeq = 0;
const schemas: string[] = [];
const base = `jh_lost_${randomBytes(4).toString('hex')}`;

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  await c.query(sql);
  await c.end();
}

/** A fresh schema for one test. */
async function freshSchema(): Promise<string> {
  const schema = `${base}_${++schemaSeq}`;
  await admin(`CREATE SCHEMA ${schema}`);
  schemas.push(schema);
  return schema;
}

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(replicas.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  if (!PG) return;
  for (const s of schemas) await admin(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
});

async function replicaOf(schema: string, faults?: Faults): Promise<InProcessReplica> {
  const r = await startReplica(schema, faults);
  replicas.push(r);
  return r;
}

/** Submits the job through the lease holder. */
async function submit(r: InProcessReplica): Promise<number> {
  const c = await eventually(async () => r.replica.leader());
  const job = await c.submit({ spec: loadSpec(SPEC).spec, rawSpec: SPEC });
  return job.id;
}

async function finalStatus(store: Store, id: number, timeoutMs = 20_000): Promise<string> {
  return eventually(async () => {
    const j = await store.getJob(id);
    return j && ['succeeded', 'failed', 'stopped'].includes(j.status) ? j.status : undefined;
  }, timeoutMs);
}

/** The agent, connected to `r` only, once its node is registered and reconciled. */
async function agentOn(r: InProcessReplica): Promise<void> {
  procs.push(startAgent({ server: r.url, name: 'lost-cmd-agent' }));
  await eventually(async () => {
    const nodes = await r.store.listNodes();
    return nodes.some((n) => n.state === 'idle') ? true : undefined;
  });
}

function explain(rs: InProcessReplica[]): string {
  return [...rs.map((r, i) => `replica ${i + 1}:\n${r.logs.join('\n')}`), ...procs.map((p) => p.out())].join(
    '\n----\n',
  );
}

describe.skipIf(!PG)('commands lost on the way to an agent connected to another replica', () => {
  it('the notification of a task.start fails: the agent reconciles again and runs it', async () => {
    const schema = await freshSchema();
    const leader = await replicaOf(schema);
    await eventually(async () => leader.replica.leader());
    const other = await replicaOf(schema);
    await agentOn(other);
    leader.link.fault = 'fail';
    const id = await submit(leader);
    const status = await finalStatus(leader.store, id).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${explain([leader, other])}`);
    });
    expect(leader.link.hits).toBe(1);
    expect(status).toBe('succeeded');
    expect(leader.logs.join('\n')).toContain('reconciling it');
  });

  it('the lease holder dies between its commit and its notification: the next one reconciles every agent with work', async () => {
    const schema = await freshSchema();
    const first = await replicaOf(schema);
    await eventually(async () => first.replica.leader());
    const second = await replicaOf(schema);
    await agentOn(second);
    first.link.fault = 'drop';
    const id = await submit(first);
    // The store says the task runs; the agent never heard of it.
    await eventually(async () => {
      const d = await first.store.getJobDetail(id);
      return d?.tasks.some((t) => t.status === 'running') ? true : undefined;
    });
    expect(first.link.hits).toBe(1);
    await first.stop();
    const status = await finalStatus(second.store, id).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${explain([first, second])}`);
    });
    expect(status).toBe('succeeded');
    expect(second.logs.join('\n')).toContain('holding the scheduling lease');
  });
});

describe.skipIf(!PG)('a decision whose write failed', () => {
  it('the coordinator is replaced from the store, and the report it could not write is applied', async () => {
    const schema = await freshSchema();
    let failed = 0;
    // The write of the task's success fails once (the store went away for a moment).
    const wrap = (s: Store): Store =>
      new Proxy(s, {
        get(target, prop, receiver) {
          if (prop === 'applyChanges') {
            return async (changes: Parameters<Store['applyChanges']>[0]) => {
              if (failed === 0 && changes.tasks?.some((t) => t.set.status === 'succeeded')) {
                failed++;
                throw new Error('forged: connection terminated');
              }
              return target.applyChanges(changes);
            };
          }
          const v: unknown = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    const r = await replicaOf(schema, { wrap });
    await eventually(async () => r.replica.leader());
    await agentOn(r);
    const id = await submit(r);
    const status = await finalStatus(r.store, id).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${explain([r])}`);
    });
    expect(failed).toBe(1);
    expect(status).toBe('succeeded');
    expect(r.logs.join('\n')).toContain('the coordinator failed');
  });
});

describe.skipIf(!PG)('an agent connecting while the store is unreachable', () => {
  it('is answered 503, not 401, and tries again until it is in', async () => {
    const schema = await freshSchema();
    const r = await replicaOf(schema, { authFailures: 1 });
    await eventually(async () => r.replica.leader());
    await agentOn(r).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${explain([r])}`);
    });
    const agentOut = procs[0]?.out() ?? '';
    expect(agentOut).toContain('refused the agent: HTTP 503');
    expect(agentOut).not.toContain('HTTP 401');
  });
});
