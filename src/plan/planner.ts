/**
 * The planner: seed 000's serial execution plan of a placed job: pipelines (levels of the stage
 * graph) of stages, each with the nodes it runs on and its task groups. Pure: the same spec and
 * placement give the same plan.
 */
import type { JobSpec, StageSpec, TaskSpec } from '../spec/model.js';
import type { PlacedNode } from '../store/store.js';
import { stageLevels } from './graph.js';
import { stageAssignments } from './selectors.js';
import { useRef } from './workflow.js';

export interface PlanNode {
  name: string;
  role: string;
  id?: string;
  host?: string;
  ip?: string;
}

export interface PlanTask {
  name: string;
  driver: TaskSpec['driver'];
  longRunning: boolean;
  /** What runs, for display: the shell command, the program and its arguments, or what is stopped. */
  run: string;
  ready?: string[];
}

export interface PlanStage {
  name: string;
  type: StageSpec['type'];
  needs: string[];
  nodes: PlanNode[];
  pipelines: Array<{ name: string; tasks: PlanTask[] }>;
  /** `name[@version]` of the template a `use` stage takes in (its stages come in at submission). */
  use?: string;
}

export interface Plan {
  job: string;
  pipelines: Array<{ name: string; stages: PlanStage[] }>;
}

export function buildPlan(spec: JobSpec, placement: PlacedNode[] | null): Plan {
  const levels = stageLevels(spec);
  // Stages by level in one pass (a filter per level is quadratic for a long chain of stages).
  const byLevel = new Map<number, StageSpec[]>();
  for (const s of spec.stages) {
    const l = levels.get(s.name) ?? 0;
    const at = byLevel.get(l);
    if (at) at.push(s);
    else byLevel.set(l, [s]);
  }
  const pipelines: Plan['pipelines'] = [];
  for (const l of [...byLevel.keys()].sort((x, y) => x - y)) {
    const stages = byLevel.get(l) ?? [];
    pipelines.push({
      name: levelName(spec, stages, l),
      stages: stages.map((s) => planStage(spec, s, placement)),
    });
  }
  return { job: spec.name, pipelines };
}

/** A level keeps the name of the spec's pipeline when it is exactly that pipeline's stages. */
function levelName(spec: JobSpec, stages: StageSpec[], level: number): string {
  const names = new Set(stages.map((s) => s.name));
  const match = spec.pipelines.find(
    (p) => p.stages.length === names.size && p.stages.every((s) => names.has(s)),
  );
  return match?.name ?? `level-${level}`;
}

function planStage(spec: JobSpec, stage: StageSpec, placement: PlacedNode[] | null): PlanStage {
  const nodes = stageAssignments(stage, spec.nodeAssignments).map((a) => {
    const placed = placement?.find((p) => p.assignment === a.name);
    const node: PlanNode = { name: a.name, role: placed?.role ?? a.role };
    if (placed) {
      node.id = placed.nodeId;
      node.host = placed.nodeName;
      node.ip = placed.ip;
    }
    return node;
  });
  const byName = new Map(stage.tasks.map((t) => [t.name, t]));
  const use = stage.use ? { use: useRef(stage.use) } : {};
  return {
    ...use,
    name: stage.name,
    type: stage.type,
    needs: [...stage.needs],
    nodes,
    pipelines: stage.groups.map((g) => ({
      name: g.name,
      tasks: g.tasks.flatMap((n) => {
        const t = byName.get(n);
        return t ? [planTask(t)] : [];
      }),
    })),
  };
}

function planTask(t: TaskSpec): PlanTask {
  const task: PlanTask = { name: t.name, driver: t.driver, longRunning: t.longRunning, run: describeRun(t) };
  if (t.driver !== 'stopper' && t.ready) {
    task.ready = t.ready.probes.map((p) =>
      p.kind === 'http' ? `http ${p.url}` : p.kind === 'tcp' ? `tcp ${p.address}` : p.command.command,
    );
  }
  return task;
}

export function describeRun(t: TaskSpec): string {
  switch (t.driver) {
    case 'stopper':
      return `stop ${t.stopper.all ? 'all tasks' : `task ${t.stopper.task}`} of stage ${t.stopper.stage}`;
    case 'docker':
      return `docker ${t.docker.action} ${t.docker.image}`;
    default:
      return t.command.driver === 'exec'
        ? [t.command.command, ...t.command.args].join(' ')
        : t.command.command;
  }
}
