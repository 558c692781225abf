import { describe, expect, it } from 'vitest';
import { validateSpecText } from '../../src/spec/index.js';

/** The problems of a spec, as `line:col path: message` strings. */
function problems(yaml: string): string[] {
  return validateSpecText(yaml).map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
}

/** A valid two-node spec to break one rule at a time. */
const base = (stages: string, extra = '') => `name: t
nodeAssignments:
  - name: srv
    role: database
  - name: cli
    role: loader
${extra}stages:
${stages}`;

describe('spec validation: structure', () => {
  it('accepts a valid spec', () => {
    expect(problems(base(`  - name: a\n    tasks:\n      - shell: {command: "true"}\n`))).toEqual([]);
  });

  it('reports YAML syntax errors with their position', () => {
    const p = problems('name: x\nstages: [\n');
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]).toMatch(/^\d+:\d+ /);
  });

  it('reports an unknown field at its key, with a suggestion', () => {
    expect(
      problems(base(`  - name: a\n    tasks:\n      - driver: shell\n        shel: {command: x}\n`)),
    ).toContain('11:9 stages[0].tasks[0].shel: unknown field "shel" (did you mean "shell"?)');
  });

  it("accepts use (a template's stages) instead of tasks, and not both", () => {
    const spec = (stage: string) =>
      `name: t\nparams: {who: {default: x}}\nstages:\n  - name: a\n${stage}  - name: b\n    needs: [a]\n    tasks: [{shell: {command: x}}]\n`;
    expect(problems(spec('    use: build-step@2\n    params: {target: "{{.Params.who}}", n: 3}\n'))).toEqual(
      [],
    );
    expect(problems(spec('    use: build-step\n    tasks: [{shell: {command: x}}]\n'))).toContain(
      '6:5 stages[0].tasks: stage "a" uses a template, so it takes its tasks from there: remove tasks',
    );
    expect(problems(spec('    use: build-step\n    params: {t: "{{.Params.whom}}"}\n')).join('\n')).toMatch(
      /stages\[0\]\.params\.t: unknown parameter "whom"/,
    );
    expect(problems(spec('    params: {t: x}\n    tasks: [{shell: {command: x}}]\n')).join('\n')).toMatch(
      /params on a stage give values to its use/,
    );
    expect(problems(spec(''))).toContain('4:5 stages[0]: missing required field "tasks"');
  });

  it('checks locks: names once each, modes by name', () => {
    const spec = (locks: string) =>
      `name: t\nlocks: ${locks}\nstages:\n  - name: a\n    tasks: [{shell: {command: x}}]\n`;
    expect(problems(spec('[a, {name: b, mode: shared}]'))).toEqual([]);
    expect(problems(spec('[a, {name: a, mode: shared}]'))).toContain(
      '2:19 locks[1].name: lock "a" is already taken by locks[0]',
    );
    expect(problems(spec('[{name: a, mode: sometimes}]')).join('\n')).toMatch(/locks\[0\]\.mode/);
  });

  it('reports missing required fields at their parent', () => {
    expect(problems(`stages:\n  - tasks: [{shell: {command: x}}]\n`)).toEqual([
      '1:1 : missing required field "name"',
      '2:5 stages[0]: missing required field "name"',
    ]);
  });

  it('reports wrong types and enums', () => {
    const p = problems(
      `name: t\nowner: {type: robot}\nstages:\n  - name: a\n    type: fast\n    tasks: [{shell: {command: 5}}]\n`,
    );
    expect(p).toContain('2:15 owner.type: must be one of user, org (got "robot")');
    expect(p).toContain('5:11 stages[0].type: must be one of short, longRunning, stopper (got "fast")');
    expect(p).toContain('6:31 stages[0].tasks[0].shell.command: must be a string (quote it: "5")');
  });

  it('reports duplicate names of assignments, stages, pipelines and tasks', () => {
    const p = problems(`name: t
nodeAssignments: [{name: n}, {name: n}]
pipelines: [{name: p, stages: [a]}, {name: p, stages: [b]}]
stages:
  - name: a
    tasks: [{name: x, shell: {command: x}}, {name: x, shell: {command: y}}]
  - name: a
    tasks: [{shell: {command: x}}]
  - name: b
    tasks: [{shell: {command: x}}]
`);
    expect(p).toContain(
      '2:37 nodeAssignments[1].name: duplicate node assignment name "n" (first at nodeAssignments[0])',
    );
    expect(p).toContain('3:44 pipelines[1].name: duplicate pipeline name "p" (first at pipelines[0])');
    expect(p).toContain('7:11 stages[1].name: duplicate stage name "a" (first at stages[0])');
    expect(p).toContain(
      '6:52 stages[0].tasks[1].name: duplicate task name "x" in stage "a" (first at tasks[0])',
    );
  });

  it('reports pipelines naming unknown stages, and a stage in two pipelines', () => {
    const p = problems(`name: t
pipelines:
  - stages: [build, tset]
  - stages: [build]
stages:
  - name: build
    tasks: [{shell: {command: x}}]
  - name: test
    tasks: [{shell: {command: x}}]
`);
    expect(p).toContain(
      '3:21 pipelines[0].stages[1]: unknown stage "tset" (did you mean "test"?); stages are: build, test',
    );
    expect(p).toContain(
      '4:14 pipelines[1].stages[0]: stage "build" is already in pipelines[0].stages[0]; a stage runs once',
    );
    expect(p).toContain(
      '8:11 stages[1].name: stage "test" is in no pipeline and has no needs, so nothing says when it runs; add it to a pipeline or give it needs',
    );
  });

  it('reports needs on unknown stages, on itself, and cycles', () => {
    const p = problems(`name: t
stages:
  - name: a
    needs: [c]
    tasks: [{shell: {command: x}}]
  - name: b
    needs: [a, b, zz]
    tasks: [{shell: {command: x}}]
  - name: c
    needs: [b]
    tasks: [{shell: {command: x}}]
`);
    expect(p).toContain('7:16 stages[1].needs[1]: stage "b" cannot need itself');
    expect(p).toContain('7:19 stages[1].needs[2]: unknown stage "zz"; stages are: a, b, c');
    expect(p).toContain('4:12 stages[0].needs: needs form a cycle: a -> c -> b -> a');
  });

  it('reports selectors that match no node assignment, and empty selectors', () => {
    const p = problems(
      base(`  - name: a
    selectors: [{role: loadr}, {name: db}, {labels: {disk: ssd}}, {}]
    tasks: [{shell: {command: x}}]
`),
    );
    expect(p).toContain(
      '9:17 stages[0].selectors[0]: selector matches no node assignment (did you mean "loader"?); assignments are: srv (database), cli (loader)',
    );
    expect(p).toContain(
      '9:32 stages[0].selectors[1]: selector matches no node assignment; assignments are: srv (database), cli (loader)',
    );
    expect(p).toContain(
      '9:44 stages[0].selectors[2]: selector matches no node assignment; assignments are: srv (database), cli (loader)',
    );
    expect(p).toContain('9:67 stages[0].selectors[3]: empty selector: give name, role, labels, or all: true');
  });

  it('matches stage selectors by labels an assignment guarantees', () => {
    const spec = `name: t
nodeAssignments:
  - name: fast
    selectors: [{labels: {disk: ssd}}]
stages:
  - name: a
    selectors: [{labels: {disk: ssd}}]
    tasks: [{shell: {command: x}}]
`;
    expect(problems(spec)).toEqual([]);
  });
});

describe('spec validation: stages and tasks', () => {
  it('requires a long-running task in a long-running stage, and none in a short one', () => {
    const p = problems(
      base(`  - name: svc
    type: longRunning
    tasks: [{name: s, shell: {command: x}}]
  - name: short
    needs: [svc]
    tasks: [{name: bg, longRunning: true, shell: {command: x}}]
`),
    );
    expect(p).toContain(
      '10:12 stages[0].tasks: stage "svc" is long-running but has no long-running task; mark one with longRunning: true',
    );
    expect(p).toContain(
      '13:37 stages[1].tasks[0].longRunning: task "bg" is long-running but stage "short" is short; set type: longRunning on the stage',
    );
  });

  it('requires names for long-running tasks and tasks in stage pipelines', () => {
    const p = problems(`name: t
stages:
  - name: svc
    type: longRunning
    tasks:
      - longRunning: true
        shell: {command: x}
  - name: par
    needs: [svc]
    pipelines: [{tasks: [a]}]
    tasks:
      - name: a
        shell: {command: x}
      - shell: {command: y}
`);
    expect(p).toContain(
      '6:9 stages[0].tasks[0]: a long-running task needs a name (stoppers and logs refer to it)',
    );
    expect(p).toContain(
      '14:9 stages[1].tasks[1]: tasks of stage "par" need names, since the stage has pipelines',
    );
  });

  it('requires stage pipelines to cover every task exactly once', () => {
    const p = problems(`name: t
stages:
  - name: s
    pipelines:
      - tasks: [a, b]
      - tasks: [b, zz]
    tasks:
      - {name: a, shell: {command: x}}
      - {name: b, shell: {command: x}}
      - {name: c, shell: {command: x}}
`);
    expect(p).toContain(
      '6:17 stages[0].pipelines[1].tasks[0]: task "b" is in more than one of the stage\'s pipelines',
    );
    expect(p).toContain('6:20 stages[0].pipelines[1].tasks[1]: stage "s" has no task "zz"');
    expect(p).toContain(
      '10:16 stages[0].tasks[2].name: task "c" is in none of stage "s"\'s pipelines, so it would never run',
    );
  });

  it('checks drivers against their blocks', () => {
    const p = problems(`name: t
stages:
  - name: s
    tasks:
      - driver: shell
      - driver: exec
        shell: {command: x}
        exec: {command: y}
      - shell: {command: x}
        exec: {command: y}
      - name: nothing
`);
    expect(p).toContain(
      '5:9 stages[0].tasks[0]: driver is shell but shell is missing: give shell: {command: ...}',
    );
    expect(p).toContain('7:16 stages[0].tasks[1].shell: shell is given but driver is exec');
    expect(p).toContain('9:9 stages[0].tasks[2]: task has shell and exec: set driver to say which one runs');
    expect(p).toContain(
      '11:9 stages[0].tasks[3]: task has nothing to run: give driver with shell {command} or exec {command, args}, or a stopper',
    );
  });

  it('accepts the docker driver and checks its block', () => {
    expect(
      problems(
        `name: t\nstages:\n  - name: s\n    tasks:\n      - driver: docker\n        docker: {image: redis, action: pull, ports: [{guest: 6379, host: 6379}]}\n`,
      ),
    ).toEqual([]);
    const p = problems(`name: t
stages:
  - name: s
    type: longRunning
    tasks:
      - name: db
        longRunning: true
        driver: docker
        docker: {image: redis, ports: [{guest: 6379, host: 70000}], mountPath: data}
        ready: [{driver: docker, docker: {image: x}}]
      - driver: docker
`);
    expect(p).toContain(
      '9:60 stages[0].tasks[0].docker.ports[0].host: host port 70000 is not between 1 and 65535',
    );
    expect(p).toContain(
      '9:80 stages[0].tasks[0].docker.mountPath: mountPath "data" must be an absolute path in the container',
    );
    expect(p).toContain(
      '10:26 stages[0].tasks[0].ready[0].driver: a readiness probe cannot run a container: use http, tcp or a command',
    );
    expect(p.find((x) => x.includes('stages[0].tasks[1]'))).toMatch(
      /driver is docker but docker is missing: give docker: \{image, action: pull \| start, ports: \[\{guest, host\}\]\}/,
    );
  });

  it('checks readiness probes', () => {
    const p = problems(`name: t
stages:
  - name: svc
    type: longRunning
    tasks:
      - name: s
        longRunning: true
        shell: {command: x}
        ready:
          interval: soon
          tasks:
            - longRunning: true
              shell: {command: x}
            - http: ftp://x
            - tcp: nohost
            - http: http://a
              tcp: a:1
      - name: short
        shell: {command: x}
        ready: {tcp: "a:1"}
`);
    expect(p).toContain(
      '10:21 stages[0].tasks[0].ready.interval: "soon" is not a duration: use e.g. 500ms, 30s, 5m, 1h',
    );
    expect(p).toContain(
      '12:28 stages[0].tasks[0].ready.tasks[0].longRunning: a readiness probe cannot be long-running',
    );
    expect(p).toContain('14:21 stages[0].tasks[0].ready.tasks[1].http: "ftp://x" is not an http(s) URL');
    expect(p).toContain('15:20 stages[0].tasks[0].ready.tasks[2].tcp: "nohost" is not host:port');
    expect(p).toContain(
      '16:15 stages[0].tasks[0].ready.tasks[3]: a probe is one of: a command (shell/exec), http, or tcp',
    );
    expect(p).toContain(
      '20:16 stages[0].tasks[1].ready: ready is only for long-running tasks (set longRunning: true, or remove ready)',
    );
  });

  it('checks stoppers: targets exist, are long-running, and come earlier', () => {
    const p = problems(`name: t
pipelines:
  - stages: [svc, early]
  - stages: [work]
  - stages: [stop]
stages:
  - name: svc
    type: longRunning
    tasks: [{name: s, longRunning: true, shell: {command: x}}, {name: setup, shell: {command: x}}]
  - name: early
    type: stopper
    tasks: [{stopper: {stage: svc, all: true}}]
  - name: work
    tasks: [{shell: {command: x}}]
  - name: stop
    type: stopper
    tasks:
      - stopper: {stage: svc, task: ss}
      - stopper: {stage: svc, task: setup}
      - stopper: {stage: work, all: true}
      - stopper: {stage: nope}
      - stopper: {stage: svc}
      - stopper: {stage: svc, task: s, all: true}
      - shell: {command: x}
  - name: misplaced
    needs: [work]
    tasks: [{stopper: {stage: svc, all: true}}, {shell: {command: x}}]
`);
    expect(p).toContain(
      '12:31 stages[1].tasks[0].stopper.stage: stopper stage "early" does not run after stage "svc"; put it in a later pipeline or add needs: [svc]',
    );
    expect(p).toContain(
      '18:37 stages[3].tasks[0].stopper.task: stage "svc" has no task "ss" (did you mean "s"?)',
    );
    expect(p).toContain(
      '19:37 stages[3].tasks[1].stopper.task: task "setup" of stage "svc" is not long-running; nothing to stop',
    );
    expect(p).toContain(
      '20:26 stages[3].tasks[2].stopper.stage: stage "work" is not long-running; only long-running tasks can be stopped',
    );
    expect(p).toContain('21:26 stages[3].tasks[3].stopper.stage: unknown stage "nope"');
    expect(p).toContain('22:18 stages[3].tasks[4].stopper: say what to stop: task: <name>, or all: true');
    expect(p).toContain('23:18 stages[3].tasks[5].stopper: give either task or all: true, not both');
    expect(p).toContain(
      '24:9 stages[3].tasks[6]: stage "stop" is a stopper stage, so each of its tasks must be a stopper',
    );
    expect(p).toContain(
      '27:13 stages[4].tasks[0]: a stopper task must be in a stage of type: stopper (stage "misplaced" is short)',
    );
  });

  it('checks templates: syntax, fields and node names', () => {
    const p = problems(
      base(`  - name: a
    tasks:
      - driver: shell
        shell: {command: "ping {{.Nodes.sv.Ip}} {{.Nodes.srv.Port}} {{.Job.Id}} {{ range .X }}"}
        env: [{k: URL, v: "http://{{.Nodes.cli.Ip}}:80/{{.Foo}}"}]
`),
    );
    expect(p).toContain(
      '11:26 stages[0].tasks[0].shell.command: unknown node "sv" in {{.Nodes.sv.Ip}} (did you mean "srv"?); nodes are: srv, cli',
    );
    expect(p).toContain(
      '11:26 stages[0].tasks[0].shell.command: unknown node field "Port" in {{.Nodes.srv.Port}}: use one of Ip, Name, Id, Role',
    );
    expect(p).toContain(
      '11:26 stages[0].tasks[0].shell.command: unsupported template expression "{{range .X}}": only field references like {{.Nodes.srv.Ip}} or {{.Job.Id}}',
    );
    expect(p).toContain(
      '12:27 stages[0].tasks[0].env[0].v: unknown template reference {{.Foo}}: use {{.Nodes.<name>.Ip|Name|Id|Role}}, {{.Job.Id|Name}}, {{.Params.<name>}} or {{.Secrets.<name>}}',
    );
  });

  it('allows secrets in env values only, never pasted into a command', () => {
    const p = problems(
      base(`  - name: a
    tasks:
      - driver: shell
        shell: {command: "curl -H {{.Secrets.API_KEY}} x"}
        env: [{k: KEY, v: "{{.Secrets.API_KEY}}"}]
`),
    );
    expect(p).toEqual([
      '11:26 stages[0].tasks[0].shell.command: {{.Secrets.API_KEY}} may only be used in env values: a secret is passed as environment, never pasted into a command',
    ]);
  });

  it('checks durations, retries and environment names', () => {
    const p = problems(`name: t
stages:
  - name: s
    tasks:
      - shell: {command: x}
        timeout: 5 minutes
        retries: {count: 2, backof: 1s}
        env: {"BAD-NAME": x, GOOD: y}
      - shell: {command: x}
        retries: -1
`);
    expect(p).toContain(
      '6:18 stages[0].tasks[0].timeout: "5 minutes" is not a duration: use e.g. 500ms, 30s, 5m, 1h',
    );
    expect(p).toContain(
      '7:29 stages[0].tasks[0].retries.backof: unknown field "backof" (did you mean "backoff"?)',
    );
    expect(p).toContain(
      '8:27 stages[0].tasks[0].env.BAD-NAME: "BAD-NAME" is not a valid environment variable name',
    );
    expect(p).toContain('10:18 stages[0].tasks[1].retries: must be at least 0');
  });

  it('gives ten located messages for a spec with ten errors', () => {
    const p = validateSpecText(`name: bad name
owner: {type: robot}
nodeAssignments:
  - name: db
    role: database
  - name: db
pipelines:
  - stages: [start]
  - stages: [load, ghost]
  - stages: [stop]
stages:
  - name: start
    type: longRunning
    tasks:
      - name: server
        longRunning: true
        shell: {command: x}
        ready: {tcp: "localhost"}
  - name: load
    selectors: [{name: dbb}]
    tasks:
      - driver: exec
        exec: {command: "x {{.Nodes.nope.Ip}}"}
        timeout: forever
      - shell: {command: y}
        evn: {A: b}
  - name: stop
    type: stopper
    tasks:
      - stopper: {stage: start, task: sever}
`);
    expect(p.map((x) => `${x.line}:${x.column} ${x.path}`)).toEqual([
      '1:7 name',
      '2:15 owner.type',
      '6:11 nodeAssignments[1].name',
      '9:20 pipelines[1].stages[1]',
      '18:22 stages[0].tasks[0].ready.tcp',
      '20:17 stages[1].selectors[0]',
      '23:25 stages[1].tasks[0].exec.command',
      '24:18 stages[1].tasks[0].timeout',
      '26:9 stages[1].tasks[1].evn',
      '30:39 stages[2].tasks[0].stopper.task',
    ]);
  });
});
