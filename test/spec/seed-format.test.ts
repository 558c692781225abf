import { describe, expect, it } from 'vitest';
import { loadSpec, validateSpecText } from '../../src/spec/index.js';
import { jobSpecJsonSchema } from '../../src/spec/schema.js';

/** Every field of seed 000's Job spec, under its name there (docker aside, tested below). */
const SEED_000 = `
id: ignored-assigned-at-submission
name: pingpong
owner:
  id: "1"
  name: at15
  type: user
workload:
  framework: pingpong
  frameworkVersion: "0.0.1"
  database: pingpong
  databaseVersion: "0.0.1"
nodeAssignments:
  - name: srv
    role: database
    selectors: []
  - name: cli
    role: loader
    selectors: []
pipelines:
  - name: start
    stages: [start_server]
  - name: work
    stages: [ping_server]
  - name: stop
    stages: [stop_server]
stages:
  - name: start_server
    type: longRunning
    selectors:
      - name: srv
        role: database
    tasks:
      - name: server
        longRunning: true
        driver: shell
        env:
          - k: PORT
            v: "8080"
        shell:
          command: "pingserver $PORT"
        ready:
          tasks:
            - driver: exec
              exec:
                command: waitforit
                args: ["-w", "http://localhost:8080/ping"]
  - name: ping_server
    selectors:
      - role: loader
    pipelines:
      - name: both
        tasks: [ping1, ping2]
    tasks:
      - name: ping1
        driver: shell
        shell:
          command: "pingclient http://{{.Nodes.srv.Ip}}:8080"
      - name: ping2
        driver: exec
        exec:
          command: pingclient
          args: ["http://{{.Nodes.srv.Ip}}:8080"]
  - name: stop_server
    type: stopper
    selectors:
      - name: srv
    tasks:
      - name: stop
        stopper:
          stage: start_server
          task: server
          all: false
`;

describe("seed 000's field names", () => {
  it('accepts every field verbatim and normalizes it', () => {
    expect(validateSpecText(SEED_000)).toEqual([]);
    const { spec } = loadSpec(SEED_000);
    expect(spec.owner).toEqual({ id: '1', name: 'at15', type: 'user' });
    expect(spec.workload).toEqual({
      framework: 'pingpong',
      frameworkVersion: '0.0.1',
      database: 'pingpong',
      databaseVersion: '0.0.1',
    });
    expect(spec.nodeAssignments.map((a) => [a.name, a.role])).toEqual([
      ['srv', 'database'],
      ['cli', 'loader'],
    ]);
    const [start, ping, stop] = spec.stages;
    expect(start?.type).toBe('longRunning');
    expect(start?.tasks[0]).toMatchObject({
      name: 'server',
      longRunning: true,
      driver: 'shell',
      env: [{ k: 'PORT', v: '8080' }],
      command: { driver: 'shell', command: 'pingserver $PORT' },
      ready: {
        probes: [
          {
            kind: 'command',
            command: { driver: 'exec', command: 'waitforit', args: ['-w', 'http://localhost:8080/ping'] },
          },
        ],
      },
    });
    expect(ping?.groups).toEqual([{ name: 'both', tasks: ['ping1', 'ping2'] }]);
    expect(ping?.needs).toEqual(['start_server']);
    expect(stop?.tasks[0]).toMatchObject({
      driver: 'stopper',
      stopper: { stage: 'start_server', task: 'server', all: false },
    });
    expect(stop?.needs).toEqual(['ping_server']);
  });

  it("accepts docker's fields", () => {
    const problems = validateSpecText(`name: d
stages:
  - name: s
    tasks:
      - name: db
        driver: docker
        docker:
          image: redis:7
          action: pull
          ports: [{guest: 6379, host: 16379}]
`);
    expect(problems.map((p) => p.message)).toEqual([]);
  });

  it('the JSON Schema lists the seed fields and is plain JSON', () => {
    const schema = JSON.parse(JSON.stringify(jobSpecJsonSchema())) as {
      properties: Record<string, unknown>;
      $schema: string;
    };
    expect(schema.$schema).toContain('json-schema.org');
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'id',
        'name',
        'owner',
        'workload',
        'nodeAssignments',
        'pipelines',
        'stages',
        'labels',
      ]),
    );
    const task = JSON.stringify(schema);
    for (const field of [
      'longRunning',
      'driver',
      'env',
      'stopper',
      'shell',
      'exec',
      'docker',
      'ready',
      'frameworkVersion',
      'databaseVersion',
    ]) {
      expect(task).toContain(`"${field}"`);
    }
  });
});

describe("benchhub's own spellings", () => {
  it('accepts background on stages and tasks, longRunning on a stage, driver: stopper and a bare ready list', () => {
    const text = `name: pingpong
nodeAssignments:
  - {name: srv, role: database}
  - {name: cli, role: loader}
pipelines:
  - {name: run_server, stages: [start_server, other_server]}
  - {name: run_workload, stages: [ping_server]}
  - {name: stop, stages: [stop_server]}
stages:
  - name: start_server
    background: true
    selectors: [{name: srv}]
    tasks:
      - name: server
        background: true
        driver: shell
        shell: {command: "pingserver 8080"}
        ready:
          - driver: shell
            shell: {command: "waitforit -w http://localhost:8080/ping"}
  - name: other_server
    longRunning: true
    selectors: [{name: cli}]
    tasks:
      - {name: other, longRunning: true, driver: shell, shell: {command: "sleep 100"}}
  - name: ping_server
    selectors: [{name: cli}]
    tasks:
      - driver: shell
        shell: {command: "pingclient http://{{.Node.srv.Ip}}:8080"}
  - name: stop_server
    selectors: [{label: {k: any, v: thing}, all: true}]
    tasks:
      - driver: stopper
        stopper: {stage: start_server, all: true}
`;
    expect(validateSpecText(text)).toEqual([]);
    const { spec } = loadSpec(text);
    expect(spec.stages.map((s) => s.type)).toEqual(['longRunning', 'longRunning', 'short', 'stopper']);
    expect(spec.stages[0]?.tasks[0]?.longRunning).toBe(true);
    const ready = spec.stages[0]?.tasks[0];
    expect(ready && ready.driver === 'shell' ? ready.ready?.probes : undefined).toHaveLength(1);
    expect(spec.stages[3]?.tasks[0]?.driver).toBe('stopper');
  });
});

describe('JSON specs', () => {
  it('are read like YAML, with line:column in their errors', () => {
    const json = `{
  "name": "from-json",
  "stages": [
    {"name": "s", "tasks": [{"driver": "shell", "shell": {"command": "echo hi"}}]},
    {"name": "t", "needs": ["s"], "tasks": [{"driver": "exec", "exec": {"comand": "true"}}]}
  ]
}`;
    expect(validateSpecText(json).map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`)).toEqual([
      '5:72 stages[1].tasks[0].exec: missing required field "command"',
      '5:73 stages[1].tasks[0].exec.comand: unknown field "comand" (did you mean "command"?)',
    ]);
    const fixed = json.replace('"comand"', '"command"');
    expect(loadSpec(fixed).spec.stages.map((s) => [s.name, s.needs])).toEqual([
      ['s', []],
      ['t', ['s']],
    ]);
  });
});
