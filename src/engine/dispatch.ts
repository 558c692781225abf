/**
 * Turns a task of a placed job into what an agent runs: templates filled in with the job's node
 * addresses, and the job's facts put into the environment of every task.
 */
import type {
  AttemptRef,
  ResolvedCommand,
  ResolvedContainer,
  ResolvedProbe,
  ResolvedTask,
} from '../agent/protocol.js';
import type { CommandSpec, DockerSpec, EnvVar, ProbeSpec, TaskSpec } from '../spec/model.js';
import { paramEnvironment, paramTexts } from '../spec/params.js';
import { renderTemplate, type TemplateContext } from '../spec/template.js';
import type { TaskRecord } from '../store/store.js';
import type { JobRun } from './job-run.js';

/** `srv-1.a` to `SRV_1_A`, for environment variable names. */
export function envKey(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/**
 * The parameter values a task's stage takes: a stage a `use` brought in has its template's (see
 * plan/workflow.ts); the others have the job's.
 */
function stageParams(run: JobRun, stage: string): JobRun['job']['params'] {
  return run.stageSpecs.get(stage)?.params ?? run.job.params;
}

export function templateContext(run: JobRun, params = run.job.params): TemplateContext {
  const nodes: TemplateContext['nodes'] = {};
  for (const p of run.job.placement ?? []) {
    nodes[p.assignment] = { ip: p.ip, name: p.nodeName, id: p.nodeId, role: p.role };
  }
  return {
    job: { id: run.id, name: run.job.name },
    nodes,
    ...(run.secrets ? { secrets: run.secrets } : {}),
    ...(params ? { params: paramTexts(params) } : {}),
  };
}

/** The environment every task of the job gets, before the task's own `env`. */
export function jobEnvironment(run: JobRun, task: TaskRecord, ref: AttemptRef): Record<string, string> {
  const placed = run.placed(task.node);
  const env: Record<string, string> = {
    JOBHUB_JOB_ID: String(run.id),
    JOBHUB_JOB_NAME: run.job.name,
    JOBHUB_STAGE: task.stage,
    JOBHUB_TASK: task.name,
    JOBHUB_NODE: task.node,
    JOBHUB_NODE_ROLE: placed?.role ?? '',
    JOBHUB_NODE_IP: placed?.ip ?? '',
    JOBHUB_ATTEMPT: String(ref.attempt),
    // The run-as identity of seed 004: who asked for this run (a user, or the end user a portal named).
    JOBHUB_SUBMITTER: run.job.submitter ?? '',
    ...paramEnvironment(stageParams(run, task.stage)),
  };
  for (const p of run.job.placement ?? []) {
    const key = envKey(p.assignment);
    env[`JOBHUB_NODE_${key}_IP`] = p.ip;
    env[`JOBHUB_NODE_${key}_NAME`] = p.nodeName;
    env[`JOBHUB_NODE_${key}_ID`] = p.nodeId;
  }
  return env;
}

function resolveCommand(
  cmd: CommandSpec,
  ctx: TemplateContext,
  base: Record<string, string>,
  own: EnvVar[],
  workingDir: string,
): ResolvedCommand {
  const env = { ...base };
  for (const { k, v } of own) env[k] = renderTemplate(v, ctx);
  return {
    driver: cmd.driver,
    command: renderTemplate(cmd.command, ctx),
    args: cmd.args.map((a) => renderTemplate(a, ctx)),
    env,
    workingDir: renderTemplate(workingDir, ctx),
  };
}

function resolveProbe(
  p: ProbeSpec,
  index: number,
  ctx: TemplateContext,
  task: ResolvedCommand,
): ResolvedProbe {
  switch (p.kind) {
    case 'http': {
      const url = renderTemplate(p.url, ctx);
      return { kind: 'http', label: `http ${url}`, url };
    }
    case 'tcp': {
      const address = renderTemplate(p.address, ctx);
      return { kind: 'tcp', label: `tcp ${address}`, address };
    }
    case 'command': {
      const command = resolveCommand(p.command, ctx, task.env, p.env, task.workingDir);
      const probe: ResolvedProbe = { kind: 'command', label: `probe ${index}: ${command.command}`, command };
      if (p.timeoutMs !== undefined) probe.timeoutMs = p.timeoutMs;
      return probe;
    }
  }
}

/**
 * A docker task as a command for messages (`docker start IMAGE`), plus the container the agent runs:
 * image, command and mount path take templates like any command.
 */
function resolveDocker(
  docker: DockerSpec,
  ctx: TemplateContext,
): { command: CommandSpec; container: ResolvedContainer } {
  const image = renderTemplate(docker.image, ctx);
  const container: ResolvedContainer = {
    image,
    action: docker.action,
    command: docker.command.map((a) => renderTemplate(a, ctx)),
    ports: docker.ports.map((p) => ({ ...p })),
    mountPath: renderTemplate(docker.mountPath, ctx),
  };
  return { command: { driver: 'exec', command: `docker ${docker.action} ${image}`, args: [] }, container };
}

export function resolveTask(run: JobRun, task: TaskRecord, spec: TaskSpec, ref: AttemptRef): ResolvedTask {
  if (spec.driver === 'stopper') {
    throw new Error(`task ${run.label(task)}: driver ${spec.driver} does not run on an agent here`);
  }
  const ctx = templateContext(run, stageParams(run, task.stage));
  const base = jobEnvironment(run, task, ref);
  const docker = spec.driver === 'docker' ? resolveDocker(spec.docker, ctx) : { command: spec.command };
  const cmd = resolveCommand(docker.command, ctx, base, spec.env, spec.workingDir);
  const resolved: ResolvedTask = { ...cmd, label: run.label(task), longRunning: spec.longRunning };
  if ('container' in docker) resolved.container = docker.container;
  const used = Object.values(run.secrets ?? {}).filter((v) => v.length >= 3);
  if (used.length > 0) resolved.mask = used;
  if (spec.timeoutMs !== undefined) resolved.timeoutMs = spec.timeoutMs;
  const jobFiles = run.files;
  const outputs = spec.outputs ?? [];
  const keepWorkdir = spec.keepWorkdir === true;
  if (jobFiles && (jobFiles.inputs.length > 0 || jobFiles.workspace || outputs.length > 0 || keepWorkdir)) {
    resolved.files = { ...jobFiles, outputs, keepWorkdir };
  }
  if (spec.longRunning && spec.ready) {
    resolved.ready = {
      probes: spec.ready.probes.map((p, i) => resolveProbe(p, i, ctx, cmd)),
      intervalMs: spec.ready.intervalMs,
      timeoutMs: spec.ready.timeoutMs,
    };
  }
  return resolved;
}
