import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../src/plan/planner.js';
import { type CandidateNode, placeJob } from '../../src/plan/scheduler.js';
import { loadSpec } from '../../src/spec/index.js';

const spec = loadSpec(`name: bench
nodeAssignments:
  - {name: db, role: database, selectors: [{labels: {disk: ssd}}], capacity: {cpus: 4}}
  - {name: l1, role: loader}
  - {name: l2, role: loader}
pipelines:
  - {name: setup, stages: [prep_db, prep_load]}
  - {name: serve, stages: [start]}
  - {name: work, stages: [load]}
stages:
  - {name: prep_db, selectors: [{name: db}], tasks: [{shell: {command: "echo db"}}]}
  - {name: prep_load, selectors: [{role: loader}], tasks: [{shell: {command: "echo l"}}]}
  - name: start
    type: longRunning
    selectors: [{name: db}]
    tasks: [{name: srv, longRunning: true, shell: {command: serve}, ready: {http: "http://127.0.0.1:1/"}}]
  - name: load
    selectors: [{role: loader}]
    pipelines: [{name: g1, tasks: [a, b]}, {name: g2, tasks: [c]}]
    tasks:
      - {name: a, shell: {command: "load {{.Nodes.db.Ip}}"}}
      - {name: b, exec: {command: load, args: [x]}}
      - {name: c, shell: {command: report}}
`).spec;

const node = (over: Partial<CandidateNode> & { name: string }): CandidateNode => ({
  id: `id-${over.name}`,
  role: 'any',
  labels: {},
  ip: '10.0.0.1',
  state: 'idle',
  free: { cpus: 8, memoryMb: 8192 },
  ...over,
});

const cluster = [
  node({ name: 'd1', role: 'database', labels: { disk: 'hdd' }, ip: '10.0.0.1' }),
  node({
    name: 'd2',
    role: 'database',
    labels: { disk: 'ssd' },
    ip: '10.0.0.2',
    free: { cpus: 2, memoryMb: 1 },
  }),
  node({ name: 'd3', role: 'database', labels: { disk: 'ssd' }, ip: '10.0.0.3' }),
  node({ name: 'x1', role: 'loader', ip: '10.0.0.4' }),
  node({ name: 'x2', role: 'any', ip: '10.0.0.5', free: { cpus: 16, memoryMb: 1 } }),
  node({ name: 'x3', role: 'loader', ip: '10.0.0.6', state: 'down' }),
];

describe('scheduler', () => {
  it('places by role, labels and capacity, preferring exact roles, on distinct nodes', () => {
    const r = placeJob(spec.nodeAssignments, cluster);
    expect(r.ok && r.placement.map((p) => [p.assignment, p.nodeName, p.ip, p.role])).toEqual([
      ['db', 'd3', '10.0.0.3', 'database'],
      ['l1', 'x1', '10.0.0.4', 'loader'],
      ['l2', 'x2', '10.0.0.5', 'loader'],
    ]);
  });

  it('is deterministic whatever the order of the nodes', () => {
    const first = JSON.stringify(placeJob(spec.nodeAssignments, cluster));
    for (let i = 0; i < 20; i++) {
      const shuffled = [...cluster].sort(() => Math.random() - 0.5);
      expect(JSON.stringify(placeJob(spec.nodeAssignments, shuffled))).toBe(first);
    }
  });

  it('backtracks when the greedy choice would starve a later assignment', () => {
    const a = loadSpec(`name: t
nodeAssignments:
  - {name: first, role: loader}
  - {name: second, role: loader, selectors: [{name: a-loader}]}
stages: [{name: s, tasks: [{shell: {command: x}}]}]`).spec.nodeAssignments;
    const nodes = [
      node({ name: 'a-loader', role: 'loader' }),
      node({ name: 'b-any', role: 'any', free: { cpus: 1, memoryMb: 1 } }),
    ];
    const r = placeJob(a, nodes);
    expect(r.ok && r.placement.map((p) => p.nodeName)).toEqual(['b-any', 'a-loader']);
  });

  it('says which assignment cannot be placed and why', () => {
    const r = placeJob(
      spec.nodeAssignments,
      cluster.filter((n) => n.name !== 'd3'),
    );
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe(
      'no node for assignment db (role database, selectors [{"labels":{"disk":"ssd"}}], 4 free cpus): d1: labels {"disk":"hdd"} do not match; d2: 2 cpus free; x1: role loader; x2: labels {} do not match; x3: down',
    );
    const none = placeJob(spec.nodeAssignments, []);
    expect(!none.ok && none.reason).toContain('no nodes are registered');
  });
});

describe('planner', () => {
  it("gives seed 000's serial plan: pipelines, stages with nodes, task groups", () => {
    const r = placeJob(spec.nodeAssignments, cluster);
    if (!r.ok) throw new Error(r.reason);
    const plan = buildPlan(spec, r.placement);
    expect(plan.pipelines.map((p) => [p.name, p.stages.map((s) => s.name)])).toEqual([
      ['setup', ['prep_db', 'prep_load']],
      ['serve', ['start']],
      ['work', ['load']],
    ]);
    const load = plan.pipelines[2]?.stages[0];
    expect(load?.nodes).toEqual([
      { name: 'l1', role: 'loader', id: 'id-x1', host: 'x1', ip: '10.0.0.4' },
      { name: 'l2', role: 'loader', id: 'id-x2', host: 'x2', ip: '10.0.0.5' },
    ]);
    expect(load?.pipelines.map((g) => [g.name, g.tasks.map((t) => t.name)])).toEqual([
      ['g1', ['a', 'b']],
      ['g2', ['c']],
    ]);
    expect(plan.pipelines[1]?.stages[0]?.pipelines[0]?.tasks[0]).toMatchObject({
      longRunning: true,
      ready: ['http http://127.0.0.1:1/'],
    });
  });

  it('is the same plan every time for the same spec and nodes', () => {
    const plans = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const shuffled = [...cluster].sort(() => Math.random() - 0.5);
      const r = placeJob(spec.nodeAssignments, shuffled);
      if (!r.ok) throw new Error(r.reason);
      plans.add(JSON.stringify(buildPlan(spec, r.placement)));
    }
    expect(plans.size).toBe(1);
  });

  it('turns needs into levels for a DAG spec', () => {
    const dag = loadSpec(`name: diamond
stages:
  - {name: a, tasks: [{shell: {command: x}}]}
  - {name: b, needs: [a], tasks: [{shell: {command: x}}]}
  - {name: c, needs: [a], tasks: [{shell: {command: x}}]}
  - {name: d, needs: [b, c], tasks: [{shell: {command: x}}]}
`).spec;
    const plan = buildPlan(dag, null);
    expect(plan.pipelines.map((p) => [p.name, p.stages.map((s) => s.name)])).toEqual([
      ['level-0', ['a']],
      ['level-1', ['b', 'c']],
      ['level-2', ['d']],
    ]);
  });
});
