/**
 * Semantic rules inside stages: stage type against its tasks, drivers, names, stage pipelines,
 * readiness probes, stoppers, templates, durations and environment names.
 */
import { parseDuration } from '../core/duration.js';
import { bool, list, obj, type RawObject, str } from './raw.js';
import {
  ancestors,
  assignmentNames,
  stageNeeds,
  stageType,
  taskDriver,
  taskIsLongRunning,
  taskName,
} from './resolve.js';
import type { RawProblem } from './schema-errors.js';
import type { PathSegment } from './source.js';
import { didYouMean, nameList } from './suggest.js';
import { parseTemplate } from './template.js';

type Report = (path: PathSegment[], message: string) => void;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function taskRules(spec: RawObject): RawProblem[] {
  const problems: RawProblem[] = [];
  const report: Report = (path, message) => problems.push({ path, message });
  const nodes = [...new Set(assignmentNames(spec))];
  const graph = stageNeeds(spec);
  const stagesByName = new Map<string, RawObject>();
  for (const s of list(spec.stages)) {
    const st = obj(s);
    const n = str(st?.name);
    if (st && n) stagesByName.set(n, st);
  }

  list(spec.stages).forEach((s, si) => {
    const stage = obj(s);
    if (!stage) return;
    const base: PathSegment[] = ['stages', si];
    const name = str(stage.name) ?? `#${si}`;
    const type = stageType(stage);
    const tasks = list(stage.tasks);
    checkStageType(stage, type, name, base, report);

    const taskNames = new Map<string, number>();
    tasks.forEach((t, ti) => {
      const task = obj(t);
      if (!task) return;
      const path = [...base, 'tasks', ti];
      const tName = str(task.name);
      if (tName !== undefined) {
        const first = taskNames.get(tName);
        if (first !== undefined)
          report(
            [...path, 'name'],
            `duplicate task name "${tName}" in stage "${name}" (first at tasks[${first}])`,
          );
        else taskNames.set(tName, ti);
      }
      checkTask(
        task,
        path,
        { stageName: name, stageType: type, inPipelines: stage.pipelines !== undefined },
        report,
      );
      checkTemplates(task, path, nodes, report);
      if (taskDriver(task).driver === 'stopper') checkStopper(task, path, name, stagesByName, graph, report);
    });

    if (stage.pipelines !== undefined) checkStagePipelines(stage, base, name, tasks, report);
  });
  return problems;
}

function checkStageType(
  stage: RawObject,
  type: string,
  name: string,
  base: PathSegment[],
  report: Report,
): void {
  const given = str(stage.type);
  const alias = stage.background === true || stage.longRunning === true;
  if (given && given !== 'longRunning' && alias) {
    report([...base, 'type'], `stage "${name}" says type: ${given} but also background/longRunning: true`);
  }
  const tasks = list(stage.tasks).map(obj);
  const longRunning = tasks.filter((t) => t && taskIsLongRunning(t)).length;
  if (type === 'longRunning' && longRunning === 0 && tasks.length > 0) {
    report(
      [...base, 'tasks'],
      `stage "${name}" is long-running but has no long-running task; mark one with longRunning: true`,
    );
  }
  tasks.forEach((t, ti) => {
    if (!t) return;
    const isStopper = taskDriver(t).driver === 'stopper';
    if (type === 'stopper' && !isStopper) {
      report(
        [...base, 'tasks', ti],
        `stage "${name}" is a stopper stage, so each of its tasks must be a stopper`,
      );
    }
    if (type !== 'stopper' && isStopper) {
      report(
        [...base, 'tasks', ti],
        `a stopper task must be in a stage of type: stopper (stage "${name}" is ${type})`,
      );
    }
    if (type !== 'longRunning' && taskIsLongRunning(t)) {
      report(
        [...base, 'tasks', ti, t.longRunning !== undefined ? 'longRunning' : 'background'],
        `task "${taskName(t, ti)}" is long-running but stage "${name}" is ${type}; set type: longRunning on the stage`,
      );
    }
  });
}

interface TaskContext {
  stageName: string;
  stageType: string;
  inPipelines: boolean;
}

function checkTask(task: RawObject, path: PathSegment[], ctx: TaskContext, report: Report): void {
  const longRunning = taskIsLongRunning(task);
  if (task.name === undefined) {
    if (longRunning) report(path, 'a long-running task needs a name (stoppers and logs refer to it)');
    else if (ctx.inPipelines)
      report(path, `tasks of stage "${ctx.stageName}" need names, since the stage has pipelines`);
  }
  checkDriver(task, path, report, 'task');
  for (const key of ['timeout'] as const) checkDuration(task[key], [...path, key], report);
  const retries = obj(task.retries);
  if (retries) {
    checkDuration(retries.backoff, [...path, 'retries', 'backoff'], report);
    checkDuration(retries.maxBackoff, [...path, 'retries', 'maxBackoff'], report);
  }
  checkEnv(task.env, [...path, 'env'], report);

  if (task.ready !== undefined) {
    if (!longRunning) {
      report(
        [...path, 'ready'],
        'ready is only for long-running tasks (set longRunning: true, or remove ready)',
      );
    }
    const ready = obj(task.ready);
    const probesPath: PathSegment[] = ready ? [...path, 'ready', 'tasks'] : [...path, 'ready'];
    const probes = ready ? list(ready.tasks) : list(task.ready);
    if (ready) {
      checkDuration(ready.interval, [...path, 'ready', 'interval'], report);
      checkDuration(ready.timeout, [...path, 'ready', 'timeout'], report);
      if (str(ready.http) !== undefined) checkHttp(str(ready.http) ?? '', [...path, 'ready', 'http'], report);
      if (str(ready.tcp) !== undefined) checkTcp(str(ready.tcp) ?? '', [...path, 'ready', 'tcp'], report);
    }
    probes.forEach((p, pi) => {
      const probe = obj(p);
      if (probe) checkProbe(probe, [...probesPath, pi], report);
    });
  }
}

function checkDriver(task: RawObject, path: PathSegment[], report: Report, what: 'task' | 'probe'): void {
  const { driver, ambiguous } = taskDriver(task);
  if (ambiguous) {
    report(path, `${what} has ${ambiguous.join(' and ')}: set driver to say which one runs`);
    return;
  }
  if (!driver) {
    report(
      path,
      `${what} has nothing to run: give driver with shell {command} or exec {command, args}${what === 'task' ? ', or a stopper' : ''}`,
    );
    return;
  }
  const at = task.driver !== undefined ? [...path, 'driver'] : [...path, driver];
  if (driver === 'docker' && what === 'probe') {
    report(at, 'a readiness probe cannot run a container: use http, tcp or a command');
    return;
  }
  if (driver === 'docker') checkDocker(task, path, report);
  if (driver === 'stopper' && what === 'probe') {
    report(at, 'a readiness probe cannot be a stopper');
    return;
  }
  if (driver === 'shell' || driver === 'exec' || driver === 'stopper' || driver === 'docker') {
    const block = task[driver];
    if (block === undefined) {
      const need =
        driver === 'shell'
          ? 'shell: {command: ...}'
          : driver === 'exec'
            ? 'exec: {command: ..., args: [...]}'
            : driver === 'docker'
              ? 'docker: {image, action: pull | start, ports: [{guest, host}]}'
              : 'stopper: {stage, task | all}';
      report(path, `driver is ${driver} but ${driver} is missing: give ${need}`);
    }
    for (const other of ['shell', 'exec', 'docker', 'stopper']) {
      if (other !== driver && task[other] !== undefined) {
        report([...path, other], `${other} is given but driver is ${driver}`);
      }
    }
  }
}

/** A docker block: an image, ports in range, a mount path inside the container. */
function checkDocker(task: RawObject, path: PathSegment[], report: Report): void {
  const docker = obj(task.docker);
  if (!docker) return;
  const at = [...path, 'docker'];
  if (str(docker.image)?.trim() === '') report([...at, 'image'], 'image must not be empty');
  list(docker.ports).forEach((p, i) => {
    const port = obj(p);
    for (const side of ['guest', 'host'] as const) {
      const n = port?.[side];
      if (typeof n === 'number' && (n < 1 || n > 65535))
        report([...at, 'ports', i, side], `${side} port ${n} is not between 1 and 65535`);
    }
  });
  const mount = str(docker.mountPath);
  if (mount !== undefined && !mount.startsWith('/'))
    report([...at, 'mountPath'], `mountPath "${mount}" must be an absolute path in the container`);
  if (docker.action === 'pull' && taskIsLongRunning(task))
    report(at, 'action pull cannot be long-running: only a started container runs in the background');
}

function checkProbe(probe: RawObject, path: PathSegment[], report: Report): void {
  if (taskIsLongRunning(probe)) {
    report(
      [...path, probe.longRunning !== undefined ? 'longRunning' : 'background'],
      'a readiness probe cannot be long-running',
    );
  }
  checkDuration(probe.timeout, [...path, 'timeout'], report);
  checkEnv(probe.env, [...path, 'env'], report);
  const kinds = ['http', 'tcp'].filter((k) => probe[k] !== undefined);
  const hasCommand = probe.driver !== undefined || probe.shell !== undefined || probe.exec !== undefined;
  if (kinds.length + (hasCommand ? 1 : 0) > 1) {
    report(path, 'a probe is one of: a command (shell/exec), http, or tcp');
    return;
  }
  if (probe.http !== undefined) checkHttp(str(probe.http) ?? '', [...path, 'http'], report);
  else if (probe.tcp !== undefined) checkTcp(str(probe.tcp) ?? '', [...path, 'tcp'], report);
  else checkDriver(probe, path, report, 'probe');
}

function checkHttp(url: string, path: PathSegment[], report: Report): void {
  // Templates are complete only at dispatch, environment references only on the node.
  if (url.includes('{{') || url.includes('${')) return;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    report(path, `"${url}" is not an http(s) URL`);
  }
}

function checkTcp(address: string, path: PathSegment[], report: Report): void {
  if (address.includes('{{') || address.includes('${')) return;
  const m = /^(.+):(\d+)$/.exec(address);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535) report(path, `"${address}" is not host:port`);
}

function checkStopper(
  task: RawObject,
  path: PathSegment[],
  stageName: string,
  stages: Map<string, RawObject>,
  graph: Map<string, string[]>,
  report: Report,
): void {
  const stopper = obj(task.stopper);
  if (!stopper) return;
  const at = [...path, 'stopper'];
  const targetName = str(stopper.stage);
  if (targetName === undefined) return;
  const target = stages.get(targetName);
  // A stage a `use` brings in is known only once the server expanded it: checked there.
  if (!target && [...stages].some(([n, s]) => s.use !== undefined && targetName.startsWith(`${n}.`))) return;
  if (!target) {
    report([...at, 'stage'], `unknown stage "${targetName}"${didYouMean(targetName, stages.keys())}`);
    return;
  }
  if (stageType(target) !== 'longRunning') {
    report(
      [...at, 'stage'],
      `stage "${targetName}" is not long-running; only long-running tasks can be stopped`,
    );
  }
  const tName = str(stopper.task);
  const all = bool(stopper.all);
  if (tName === undefined && !all) report(at, 'say what to stop: task: <name>, or all: true');
  if (tName !== undefined && all) report(at, 'give either task or all: true, not both');
  if (tName !== undefined) {
    const tasks = list(target.tasks).map(obj);
    const names = tasks.map((t, i) => taskName(t, i));
    const idx = names.indexOf(tName);
    if (idx < 0)
      report([...at, 'task'], `stage "${targetName}" has no task "${tName}"${didYouMean(tName, names)}`);
    else if (!taskIsLongRunning(tasks[idx] ?? {})) {
      report(
        [...at, 'task'],
        `task "${tName}" of stage "${targetName}" is not long-running; nothing to stop`,
      );
    }
  }
  if (targetName !== stageName && !ancestors(graph, stageName).has(targetName)) {
    report(
      [...at, 'stage'],
      `stopper stage "${stageName}" does not run after stage "${targetName}"; put it in a later pipeline or add needs: [${targetName}]`,
    );
  }
}

function checkStagePipelines(
  stage: RawObject,
  base: PathSegment[],
  name: string,
  tasks: unknown[],
  report: Report,
): void {
  const names = tasks.map((t, i) => str(obj(t)?.name) ?? `#${i}`);
  const seen = new Map<string, PathSegment[]>();
  list(stage.pipelines).forEach((p, pi) => {
    list(obj(p)?.tasks).forEach((t, ti) => {
      const tName = str(t);
      if (tName === undefined) return;
      const path = [...base, 'pipelines', pi, 'tasks', ti];
      if (!names.includes(tName)) {
        report(path, `stage "${name}" has no task "${tName}"${didYouMean(tName, names)}`);
      } else if (seen.has(tName)) {
        report(path, `task "${tName}" is in more than one of the stage's pipelines`);
      } else seen.set(tName, path);
    });
  });
  tasks.forEach((t, ti) => {
    const tName = str(obj(t)?.name);
    if (tName !== undefined && !seen.has(tName)) {
      report(
        [...base, 'tasks', ti, 'name'],
        `task "${tName}" is in none of stage "${name}"'s pipelines, so it would never run`,
      );
    }
  });
}

function checkDuration(value: unknown, path: PathSegment[], report: Report): void {
  if (value === undefined || (typeof value !== 'string' && typeof value !== 'number')) return;
  if (parseDuration(value) === undefined)
    report(path, `"${String(value)}" is not a duration: use e.g. 500ms, 30s, 5m, 1h`);
}

function checkEnv(env: unknown, path: PathSegment[], report: Report): void {
  const entries: Array<[string | undefined, PathSegment[]]> = Array.isArray(env)
    ? env.map((e, i) => [str(obj(e)?.k), [...path, i, 'k']])
    : Object.keys(obj(env) ?? {}).map((k) => [k, [...path, k]]);
  for (const [k, at] of entries) {
    if (k !== undefined && !ENV_NAME.test(k)) report(at, `"${k}" is not a valid environment variable name`);
  }
}

/** Every string that is filled in at dispatch, with its path. */
export function templatedStrings(task: RawObject, path: PathSegment[]): Array<[string, PathSegment[]]> {
  const out: Array<[string, PathSegment[]]> = [];
  const add = (v: unknown, p: PathSegment[]) => {
    if (typeof v === 'string') out.push([v, p]);
  };
  add(obj(task.shell)?.command, [...path, 'shell', 'command']);
  add(obj(task.exec)?.command, [...path, 'exec', 'command']);
  for (const [i, a] of list(obj(task.exec)?.args).entries()) add(a, [...path, 'exec', 'args', i]);
  add(task.workingDir, [...path, 'workingDir']);
  add(task.http, [...path, 'http']);
  add(task.tcp, [...path, 'tcp']);
  if (Array.isArray(task.env)) {
    for (const [i, e] of task.env.entries()) add(obj(e)?.v, [...path, 'env', i, 'v']);
  } else for (const [k, v] of Object.entries(obj(task.env) ?? {})) add(v, [...path, 'env', k]);
  const ready = obj(task.ready);
  if (ready) {
    add(ready.http, [...path, 'ready', 'http']);
    add(ready.tcp, [...path, 'ready', 'tcp']);
  }
  const probes = ready ? list(ready.tasks) : list(task.ready);
  const probesPath = ready ? [...path, 'ready', 'tasks'] : [...path, 'ready'];
  probes.forEach((p, i) => {
    const probe = obj(p);
    if (probe) out.push(...templatedStrings(probe, [...probesPath, i]));
  });
  return out;
}

function checkTemplates(task: RawObject, path: PathSegment[], nodes: string[], report: Report): void {
  for (const [text, at] of templatedStrings(task, path)) {
    const { refs, errors } = parseTemplate(text);
    for (const e of errors) report(at, e);
    const inEnv = at.includes('env');
    for (const ref of refs) {
      if (ref.kind === 'secret' && !inEnv) {
        report(
          at,
          `{{.Secrets.${ref.name}}} may only be used in env values: a secret is passed as environment, never pasted into a command`,
        );
      }
      if (ref.kind === 'node' && !nodes.includes(ref.node)) {
        report(
          at,
          `unknown node "${ref.node}" in {{.Nodes.${ref.node}.${ref.field}}}${didYouMean(ref.node, nodes)}; nodes are: ${nameList(nodes)}`,
        );
      }
    }
  }
}
