/**
 * A job whose labels pick an external backend (`backend: jenkins-prod`, or seed 002's
 * `_execution_backend_id`): the backend runs the whole job, so its spec has no stages, pipelines or
 * node assignments of its own. The engine still runs it as one stage with one task (so stop, logs,
 * events and locks work as for any job): that stage is made here, and the task's "node" is the
 * backend (see src/backends/).
 */
import type { JobSpec, NodeAssignment, StageSpec } from './model.js';
import { obj, type RawObject, str } from './raw.js';
import type { RawProblem } from './schema-errors.js';

/** The label a job picks its backend by. */
export const BACKEND_LABEL = 'backend';
/** Seed 002's (ASCOB's) label for the same thing, accepted too. */
export const ASCOB_BACKEND_LABEL = '_execution_backend_id';
/** ASCOB's built-in backend: not an external one (server/compat/ascob-spec.ts runs it as a job). */
const ASCOB_DUMMY = 'dummyBackend';

/** What the task of a backend job does where no backend runs it (embedded mode). */
const NO_BACKEND_HERE =
  'echo "this job runs on the external backend \\"$1\\": submit it to a jobhub server that has it (jobhub submit)" >&2; exit 2';

/** The assignment, stage and task every backend job has. */
export const BACKEND_ASSIGNMENT = 'backend';
export const BACKEND_STAGE = 'backend';
export const BACKEND_TASK = 'run';

/** The backend id a job's labels pick, or undefined (jobhub's own agents). */
export function backendOf(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  if (!labels) return undefined;
  const id = labels[BACKEND_LABEL] ?? labels[ASCOB_BACKEND_LABEL];
  if (id === undefined || id === '' || id === ASCOB_DUMMY) return undefined;
  return id;
}

function rawLabels(spec: RawObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(spec.labels) ?? {})) {
    const s = str(v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/** `stages` is required unless a backend runs the job; then it (and what runs on nodes) must be absent. */
export function backendRules(spec: RawObject): RawProblem[] {
  const backend = backendOf(rawLabels(spec));
  if (backend === undefined) {
    return spec.stages === undefined ? [{ path: [], message: 'missing required field "stages"' }] : [];
  }
  const problems: RawProblem[] = [];
  for (const field of ['stages', 'pipelines', 'nodeAssignments'] as const) {
    if (spec[field] !== undefined) {
      problems.push({
        path: [field],
        atKey: true,
        message: `a job run by backend "${backend}" has no ${field} (the backend runs the whole job): remove ${field}, or remove the backend label to run on jobhub's agents`,
      });
    }
  }
  return problems;
}

/** The one stage and assignment of a backend job (the spec is valid: see backendRules). */
export function backendShape(backend: string): { assignment: NodeAssignment; stage: StageSpec } {
  return {
    assignment: { name: BACKEND_ASSIGNMENT, role: 'backend', selectors: [], capacity: {} },
    stage: {
      name: BACKEND_STAGE,
      index: 0,
      type: 'short',
      selectors: [],
      needs: [],
      groups: [{ name: 'group-0', tasks: [BACKEND_TASK] }],
      tasks: [
        {
          name: BACKEND_TASK,
          index: 0,
          longRunning: false,
          env: [],
          workingDir: '',
          retries: { count: 0, backoffMs: 1000, maxBackoffMs: 60_000 },
          // Never run on a server (the task's node is the backend). Without a server (`jobhub run`)
          // there is no backend: the task says so and fails. The id is an argument, never shell text.
          driver: 'exec',
          command: {
            driver: 'exec',
            command: 'sh',
            args: ['-c', NO_BACKEND_HERE, 'jobhub', backend],
          },
        },
      ],
    },
  };
}

/** Whether a normalized spec is a backend job's. */
export function isBackendJob(spec: Pick<JobSpec, 'labels'>): boolean {
  return backendOf(spec.labels) !== undefined;
}
