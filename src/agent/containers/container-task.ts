/** How a docker task becomes a run: its container's shape, labels and mounts. */
import type { OutputStream } from '../process-group.js';
import type { AttemptRef, ResolvedContainer } from '../protocol.js';
import type { TaskRun } from '../task-run.js';
import { ContainerRun } from './container-run.js';
import { CONTAINER_LABELS, type ContainerEngine } from './engine.js';
import { ImagePull } from './image-pull.js';

export interface ContainerTaskInput {
  nodeId: string;
  ref: AttemptRef;
  container: ResolvedContainer;
  /** The task's environment (the job's variables and its own): the container gets exactly this. */
  env: Record<string, string>;
  /** The task's working directory on the node (absolute): mounted at `container.mountPath`. */
  hostDir: string;
  engine: ContainerEngine;
  onLine: (stream: OutputStream, text: string, ts: number) => void;
  onNote: (text: string) => void;
  now: () => number;
}

/** The labels of an attempt's container: what cleanups and a restarted agent look for. */
export function attemptLabels(nodeId: string, ref: AttemptRef): Record<string, string> {
  return {
    [CONTAINER_LABELS.managed]: 'true',
    [CONTAINER_LABELS.node]: nodeId,
    [CONTAINER_LABELS.job]: String(ref.jobId),
    [CONTAINER_LABELS.task]: `${nodeId}/${ref.jobId}/${ref.taskId}/${ref.attempt}`,
  };
}

/** Labels of every container of one job on one node (omit `jobId`: of every job). */
export function nodeLabels(nodeId: string, jobId?: number): Record<string, string> {
  return {
    [CONTAINER_LABELS.managed]: 'true',
    [CONTAINER_LABELS.node]: nodeId,
    ...(jobId !== undefined ? { [CONTAINER_LABELS.job]: String(jobId) } : {}),
  };
}

export function startContainerTask(input: ContainerTaskInput): TaskRun {
  const { container, engine, onNote, now } = input;
  if (container.action === 'pull') return new ImagePull(container.image, { engine, onNote, now });
  return new ContainerRun(
    {
      image: container.image,
      cmd: container.command,
      env: input.env,
      workingDir: container.mountPath,
      binds: [{ host: input.hostDir, container: container.mountPath }],
      ports: container.ports,
      labels: attemptLabels(input.nodeId, input.ref),
    },
    { engine, onLine: input.onLine, onNote, now },
  );
}
