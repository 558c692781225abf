/**
 * From a valid input spec to the normalized model: aliases resolved, defaults filled in, pipelines
 * compiled into each stage's `needs`. Runs only on specs that passed validation.
 */
import { parseDuration } from '../core/duration.js';
import { cleanRelPath, isDescriptor, parseDescriptor } from '../files/paths.js';
import { backendOf, backendShape } from './backend-job.js';
import type {
  CommandSpec,
  EnvVar,
  InputSpec,
  JobSpec,
  NodeAssignment,
  ParamSpec,
  ProbeSpec,
  ReadySpec,
  RetrySpec,
  Selector,
  StageSpec,
  TaskGroup,
  TaskSpec,
  UseSpec,
} from './model.js';
import { obj, selectorLabels } from './raw.js';
import {
  IMPLICIT_ASSIGNMENT,
  stageNeeds,
  stageType,
  taskDriver,
  taskIsLongRunning,
  taskName,
} from './resolve.js';
import type {
  JobSpecInput,
  ParamDeclInput,
  ProbeInput,
  SelectorInput,
  StageInput,
  TaskInput,
} from './schema.js';

export const DEFAULT_READY_INTERVAL_MS = 500;
export const DEFAULT_READY_TIMEOUT_MS = 60_000;
export const DEFAULT_RETRY_BACKOFF_MS = 1000;
export const DEFAULT_RETRY_MAX_BACKOFF_MS = 60_000;
/** Where a docker task's working directory is mounted in its container, unless it says. */
export const DEFAULT_CONTAINER_MOUNT = '/work';

export function normalize(input: JobSpecInput): JobSpec {
  const needs = stageNeeds(input as unknown as Record<string, unknown>);
  const spec: JobSpec = {
    name: input.name,
    labels: { ...(input.labels ?? {}) },
    nodeAssignments: normalizeAssignments(input),
    pipelines: (input.pipelines ?? []).map((p, i) => ({
      name: p.name ?? `pipeline-${i}`,
      stages: [...p.stages],
    })),
    stages: (input.stages ?? []).map((s, i) => normalizeStage(s, i, needs.get(s.name) ?? [])),
  };
  const backend = backendOf(spec.labels);
  if (backend !== undefined) {
    // The backend runs the whole job: one stage, one task, whose node is the backend.
    const shape = backendShape(backend);
    spec.nodeAssignments = [shape.assignment];
    spec.stages = [shape.stage];
  }
  if (input.description !== undefined) spec.description = input.description;
  if (input.owner) {
    spec.owner = { id: input.owner.id ?? '', name: input.owner.name ?? '', type: input.owner.type ?? 'user' };
  }
  if (input.workload) spec.workload = { ...input.workload };
  if (input.locks !== undefined) {
    spec.locks = input.locks.map((l) => (typeof l === 'string' ? { name: l } : { ...l }));
  }
  if (input.params !== undefined) spec.params = normalizeParams(input.params);
  if (input.inputs !== undefined) spec.inputs = normalizeInputs(input.inputs);
  if (input.workspace !== undefined) spec.workspace = input.workspace;
  return spec;
}

/** Inputs, already checked by the rules: descriptors parsed, destinations in canonical form. */
function normalizeInputs(inputs: NonNullable<JobSpecInput['inputs']>): InputSpec[] {
  return inputs.map((item) => {
    const o = typeof item === 'string' ? (isDescriptor(item) ? { from: item } : { name: item }) : item;
    if (o.from !== undefined) {
      const d = parseDescriptor(o.from);
      return {
        kind: 'job',
        jobId: d.jobId,
        source: d.source,
        to: o.to !== undefined ? cleanRelPath(o.to) : d.to,
      };
    }
    const name = cleanRelPath(o.name ?? '');
    return { kind: 'upload', name, to: o.to !== undefined ? cleanRelPath(o.to) : name };
  });
}

function normalizeAssignments(input: JobSpecInput): NodeAssignment[] {
  if (input.nodeAssignments === undefined) {
    return [{ name: IMPLICIT_ASSIGNMENT, role: 'any', selectors: [], capacity: {} }];
  }
  return input.nodeAssignments.map((a) => {
    const capacity: NodeAssignment['capacity'] = {};
    if (a.capacity?.cpus !== undefined) capacity.cpus = a.capacity.cpus;
    const memoryMb = parseMemoryMb(a.capacity?.memory);
    if (memoryMb !== undefined) capacity.memoryMb = memoryMb;
    return {
      name: a.name,
      role: a.role ?? 'any',
      selectors: (a.selectors ?? []).map(normalizeSelector),
      capacity,
    };
  });
}

/** `512`, `"512Mi"`, `"2Gi"`, `"1G"` to MiB. */
export function parseMemoryMb(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*(Mi|M|MB|Gi|G|GB|Ti|T)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 'Mi';
  return unit.startsWith('G') ? n * 1024 : unit.startsWith('T') ? n * 1024 * 1024 : n;
}

function normalizeSelector(s: SelectorInput): Selector {
  const sel: Selector = {
    labels: selectorLabels(s as unknown as Record<string, unknown>),
    all: s.all === true,
  };
  if (s.name !== undefined) sel.name = s.name;
  if (s.role !== undefined) sel.role = s.role;
  return sel;
}

function normalizeStage(s: StageInput, index: number, needs: string[]): StageSpec {
  if (s.use !== undefined) {
    const at = s.use.lastIndexOf('@');
    const use: UseSpec =
      at < 0
        ? { template: s.use, params: { ...(s.params ?? {}) } }
        : {
            template: s.use.slice(0, at),
            version: Number(s.use.slice(at + 1)),
            params: { ...(s.params ?? {}) },
          };
    const selectors = (s.selectors ?? []).map(normalizeSelector);
    return { name: s.name, index, type: 'short', selectors, needs, groups: [], tasks: [], use };
  }
  const tasks = (s.tasks ?? []).map((t, i) => normalizeTask(t, i));
  const groups: TaskGroup[] = s.pipelines
    ? s.pipelines.map((p, i) => ({ name: p.name ?? `group-${i}`, tasks: [...p.tasks] }))
    : tasks.map((t, i) => ({ name: `group-${i}`, tasks: [t.name] }));
  return {
    name: s.name,
    index,
    type: stageType(s as unknown as Record<string, unknown>),
    selectors: (s.selectors ?? []).map(normalizeSelector),
    needs,
    groups,
    tasks,
  };
}

function normalizeEnv(env: TaskInput['env']): EnvVar[] {
  if (env === undefined) return [];
  if (Array.isArray(env)) return env.map((e) => ({ k: e.k, v: e.v }));
  return Object.entries(env).map(([k, v]) => ({ k, v }));
}

function normalizeRetries(r: TaskInput['retries']): RetrySpec {
  const base = { count: 0, backoffMs: DEFAULT_RETRY_BACKOFF_MS, maxBackoffMs: DEFAULT_RETRY_MAX_BACKOFF_MS };
  if (r === undefined) return base;
  if (typeof r === 'number') return { ...base, count: r };
  return {
    count: r.count,
    backoffMs: parseDuration(r.backoff) ?? base.backoffMs,
    maxBackoffMs: parseDuration(r.maxBackoff) ?? base.maxBackoffMs,
  };
}

function commandOf(t: TaskInput | ProbeInput, driver: string): CommandSpec {
  if (driver === 'exec' && t.exec)
    return { driver: 'exec', command: t.exec.command, args: [...(t.exec.args ?? [])] };
  return { driver: 'shell', command: t.shell?.command ?? '', args: [] };
}

function normalizeReady(ready: TaskInput['ready']): ReadySpec | undefined {
  if (ready === undefined) return undefined;
  const r = Array.isArray(ready) ? { tasks: ready } : ready;
  const probes: ProbeSpec[] = [];
  for (const p of r.tasks ?? []) {
    if (p.http !== undefined) probes.push({ kind: 'http', url: p.http });
    else if (p.tcp !== undefined) probes.push({ kind: 'tcp', address: p.tcp });
    else {
      const command = commandOf(p, taskDriver(obj(p) ?? {}).driver ?? 'shell');
      const probe: ProbeSpec = { kind: 'command', command, env: normalizeEnv(p.env) };
      const timeoutMs = parseDuration(p.timeout);
      if (timeoutMs !== undefined) probe.timeoutMs = timeoutMs;
      probes.push(probe);
    }
  }
  if (!Array.isArray(ready)) {
    if (ready.http !== undefined) probes.push({ kind: 'http', url: ready.http });
    if (ready.tcp !== undefined) probes.push({ kind: 'tcp', address: ready.tcp });
  }
  return {
    probes,
    intervalMs: (!Array.isArray(ready) && parseDuration(ready.interval)) || DEFAULT_READY_INTERVAL_MS,
    timeoutMs: (!Array.isArray(ready) && parseDuration(ready.timeout)) || DEFAULT_READY_TIMEOUT_MS,
  };
}

function normalizeTask(t: TaskInput, index: number): TaskSpec {
  const raw = t as unknown as Record<string, unknown>;
  const driver = taskDriver(raw).driver ?? 'shell';
  const base = {
    name: taskName(raw, index),
    index,
    longRunning: taskIsLongRunning(raw),
    env: normalizeEnv(t.env),
    workingDir: t.workingDir ?? '',
    retries: normalizeRetries(t.retries),
    ...(t.outputs !== undefined ? { outputs: [...t.outputs] } : {}),
    ...(t.keepWorkdir === true ? { keepWorkdir: true } : {}),
  } satisfies Partial<TaskSpec>;
  const timeoutMs = parseDuration(t.timeout);
  const withTimeout = timeoutMs !== undefined ? { ...base, timeoutMs } : base;
  if (driver === 'stopper' && t.stopper) {
    const stopper = { stage: t.stopper.stage, all: t.stopper.all === true } as {
      stage: string;
      all: boolean;
      task?: string;
    };
    if (t.stopper.task !== undefined) stopper.task = t.stopper.task;
    return { ...withTimeout, longRunning: false, driver: 'stopper', stopper };
  }
  const ready = normalizeReady(t.ready);
  if (driver === 'docker' && t.docker) {
    const d = t.docker;
    const command =
      d.command === undefined ? [] : typeof d.command === 'string' ? ['sh', '-c', d.command] : [...d.command];
    const task: TaskSpec = {
      ...withTimeout,
      driver: 'docker',
      docker: {
        image: d.image,
        action: d.action === 'pull' ? 'pull' : 'start',
        ports: (d.ports ?? []).map((p) => ({ guest: p.guest, host: p.host })),
        command,
        mountPath: d.mountPath ?? DEFAULT_CONTAINER_MOUNT,
      },
    };
    if (ready) task.ready = ready;
    return task;
  }
  const task: TaskSpec = {
    ...withTimeout,
    driver: driver === 'exec' ? 'exec' : 'shell',
    command: commandOf(t, driver),
  };
  if (ready) task.ready = ready;
  return task;
}

function normalizeParams(params: Record<string, ParamDeclInput>): ParamSpec[] {
  return Object.entries(params).map(([name, p]) => {
    const out: ParamSpec = { name, type: p.type ?? 'string', required: p.required === true };
    if (p.values !== undefined) out.values = [...p.values];
    if (p.default !== undefined) out.default = p.default;
    if (p.description !== undefined) out.description = p.description;
    return out;
  });
}
