/** The shapes of the REST API's answers that the UI reads (see the OpenAPI document at /docs). */

export type JobStatus = 'queued' | 'running' | 'stopping' | 'succeeded' | 'failed' | 'stopped';
export type TaskStatus =
  | 'queued'
  | 'running'
  | 'ready'
  | 'succeeded'
  | 'failed'
  | 'stopped'
  | 'skipped'
  | 'lost';

export interface Owner {
  id: string;
  name: string;
  type: 'user' | 'org';
}

export interface JobSummary {
  id: number;
  name: string;
  status: JobStatus;
  owner: Owner | null;
  labels: Record<string, string>;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  reason: string | null;
  waitingFor: string | null;
  stopRequested: boolean;
  retryOf: number | null;
  held: boolean;
  submitter: string | null;
  template: { name: string; version: number } | null;
}

export interface JobList {
  results: JobSummary[];
  cursor: string | null;
}

export interface TaskView {
  id: number;
  name: string;
  status: TaskStatus;
  attempt: number;
  longRunning: boolean;
  startedAt: string | null;
  readyAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  text: string | null;
}

export interface StageView {
  name: string;
  type: 'short' | 'longRunning' | 'stopper';
  status: string;
  needs: string[];
  startedAt: string | null;
  readyAt: string | null;
  endedAt: string | null;
  nodes: Array<{
    name: string;
    nodeId: string | null;
    host: string | null;
    ip: string | null;
    tasks: TaskView[];
  }>;
}

export interface JobDetail extends JobSummary {
  pipelines: Array<{ name: string; stages: string[] }>;
  stages: StageView[];
}

export interface PlanView {
  job: string;
  pipelines: Array<{
    name: string;
    stages: Array<{
      name: string;
      type: string;
      needs: string[];
      nodes: Array<{ name: string; role: string; host?: string }>;
      pipelines: Array<{
        name: string;
        tasks: Array<{ name: string; driver: string; longRunning: boolean; run: string }>;
      }>;
    }>;
  }>;
}

export interface EventView {
  seq: number;
  type: string;
  ts: string;
  jobId?: number;
  nodeId?: string;
  stage?: string;
  taskId?: number;
  from?: string;
  to?: string;
  data?: Record<string, unknown>;
}

export interface LogLine {
  id: number;
  taskId: number;
  task: string;
  attempt: number;
  seq: number;
  ts: string;
  stream: string;
  text: string;
}

export interface NodeView {
  id: string;
  name: string;
  state: string;
  connected: boolean;
  host: string;
  addr: { ip: string; bindAddr: string; remoteAddr: string };
  role: string;
  labels: Record<string, string>;
  provider: string;
  capacity: { cpus: number; memoryMb: number; slots: number };
  capabilities: string[];
  startTime: string | null;
  bootTime: string | null;
  registeredAt: string | null;
  lastSeenAt: string | null;
}

export interface LockEntry {
  jobId: number | null;
  mode: 'exclusive' | 'shared';
  since: string | null;
}

export interface LockView {
  name: string;
  capacity: number | null;
  state: 'free' | 'shared' | 'exclusive';
  holders: LockEntry[];
  queue: LockEntry[];
}

export interface ParamView {
  name: string;
  type: 'string' | 'number' | 'boolean' | 'enum';
  values?: string[];
  default?: string | number | boolean;
  description?: string;
  required: boolean;
}

export interface TemplateView {
  name: string;
  version: number;
  description: string | null;
  owner: Owner | null;
  pushedBy: string | null;
  createdAt: string;
  params: ParamView[];
  versions?: number;
}

export interface FileView {
  path: string;
  size: number;
  kind?: string;
  task?: string | null;
}

export interface Problem {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export interface WhoAmI {
  user: { id: string; name: string; serverAdmin: boolean } | null;
  token: { name: string; scope: 'full' | 'read' | 'submit' };
  orgs: Array<{ id: string; name: string; role: 'admin' | 'member' | 'viewer' }>;
}
