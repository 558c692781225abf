/**
 * The one schema source of the REST API (`/api/v1`). Each TypeBox object here is at once the
 * Fastify route schema (requests are validated against it), the TypeScript type (`Static<>`, used
 * by the routes and by the CLI's ApiClient) and, through @fastify/swagger, the OpenAPI 3.1 document.
 *
 * Times are ISO 8601 strings (or null) in the API; the store keeps epoch milliseconds.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { ErrorCode } from '../core/errors.js';
import { JOB_STATUSES, NODE_STATES, STAGE_STATUSES, TASK_STATUSES } from '../core/types.js';
import type { EventType } from '../store/store.js';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** A string enum, rendered as `{type: string, enum: [...]}` (clearer in OpenAPI than anyOf consts). */
function StringEnum<const T extends readonly string[]>(values: T, opts: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });
}

function Nullable<T extends TSchema>(schema: T, opts: { description?: string } = {}) {
  return Type.Union([schema, Type.Null()], opts);
}

const Time = Type.String({ format: 'date-time', description: 'ISO 8601 time (UTC)' });
const NullableTime = Nullable(Time);
const Labels = Type.Record(Type.String(), Type.String(), { description: 'key: value labels' });

/** Every error code; a new code in core/errors.ts fails to compile here until it is listed. */
const ERROR_CODE_SET: Record<ErrorCode, true> = {
  spec_invalid: true,
  bad_request: true,
  unauthorized: true,
  forbidden: true,
  not_found: true,
  conflict: true,
  too_large: true,
  rate_limited: true,
  unsupported_media_type: true,
  unsupported: true,
  placement_failed: true,
  unavailable: true,
  store_error: true,
  insufficient_storage: true,
  internal: true,
};
export const ERROR_CODES = Object.keys(ERROR_CODE_SET) as ErrorCode[];

/** Every event type; a new type in store.ts fails to compile here until it is listed. */
const EVENT_TYPE_SET: Record<EventType, true> = {
  'job.submitted': true,
  'job.status': true,
  'job.placed': true,
  'job.waiting': true,
  'job.stop_requested': true,
  'job.released': true,
  'job.deleted': true,
  'lock.acquired': true,
  'lock.released': true,
  'lock.broken': true,
  'stage.status': true,
  'task.status': true,
  'task.superseded': true,
  audit: true,
  'node.registered': true,
  'node.state': true,
};
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as EventType[];

// ---------------------------------------------------------------------------------------------
// Errors

export const Problem = Type.Object(
  {
    path: Type.String({
      description: 'where in the input, e.g. `stages[2].tasks[0].shell` or `query.limit`',
    }),
    message: Type.String(),
    line: Type.Optional(Type.Integer({ minimum: 1 })),
    column: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { description: 'One located problem' },
);
export type Problem = Static<typeof Problem>;

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'What went wrong, for people' }),
    code: StringEnum(ERROR_CODES, { description: 'What went wrong, for programs' }),
    details: Type.Optional(
      Type.Unknown({
        description: 'More: the located problems of an invalid spec or request, or facts about a conflict',
      }),
    ),
  },
  { $id: 'Error', description: 'An error' },
);
export type ErrorBody = Static<typeof ErrorBody>;
/** Shared schemas: added to the app (`addSchema`), they are `components.schemas` of the document. */
export const SHARED_SCHEMAS = [ErrorBody];
const ErrorRef = Type.Ref(ErrorBody);

// ---------------------------------------------------------------------------------------------
// Jobs

export const Owner = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: StringEnum(['user', 'org'] as const),
});

export const JobSummary = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    name: Type.String(),
    status: StringEnum(JOB_STATUSES),
    owner: Nullable(Owner),
    labels: Labels,
    createdAt: Time,
    startedAt: NullableTime,
    endedAt: NullableTime,
    reason: Nullable(Type.String(), { description: 'Why the job ended as it did, or why it is stopping' }),
    waitingFor: Nullable(Type.String(), { description: 'Why a queued job is not running yet' }),
    stopRequested: Type.Boolean(),
    retryOf: Nullable(Type.Integer(), { description: 'The job this one retries' }),
    held: Type.Boolean({
      description: 'Submitted with `hold=true` and not released yet: queued, inputs may still be uploaded',
    }),
    submitter: Nullable(Type.String(), {
      description: 'Who submitted it: a user, or the end user a portal named',
    }),
    params: Nullable(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])), {
      description:
        'The parameter values it was submitted with, defaults included; null when the spec declares none',
    }),
    template: Nullable(Type.Object({ name: Type.String(), version: Type.Integer({ minimum: 1 }) }), {
      description: 'The template version it was submitted from, or null',
    }),
  },
  { description: 'A job, without its stages and tasks' },
);
export type JobSummary = Static<typeof JobSummary>;

/** Fields a job listing can choose with `fields`. */
export const JOB_FIELDS = Object.keys(JobSummary.properties) as Array<keyof JobSummary>;

/** A listed job: `id` and the fields chosen with `fields` (all by default). */
export const JobListItem = Type.Object({ ...Type.Partial(JobSummary).properties, id: Type.Integer() });
export type JobListItem = Static<typeof JobListItem>;

export const JobList = Type.Object(
  {
    results: Type.Array(JobListItem),
    next: Nullable(Type.String(), { description: 'URL (path and query) of the next page, or null' }),
    previous: Nullable(Type.String(), { description: 'URL (path and query) of the previous page, or null' }),
    cursor: Nullable(Type.String(), {
      description: 'Cursor of the page after this one (pass as `cursor`), or null when there is none',
    }),
  },
  { description: 'A page of jobs, newest first' },
);
export type JobList = Static<typeof JobList>;

export const ListJobsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  start: Type.Optional(
    Type.Integer({ minimum: 1, default: 1, description: 'List from this result on (1-based)' }),
  ),
  cursor: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'Opaque keyset cursor from a previous page; `start` is ignored with it',
    }),
  ),
  status: Type.Optional(
    Type.Array(StringEnum(JOB_STATUSES), { description: 'Repeat the parameter or separate by commas' }),
  ),
  owner: Type.Optional(Type.String({ minLength: 1, description: 'Owner name or id' })),
  submitter: Type.Optional(Type.String({ minLength: 1, description: 'Only jobs of this submitter' })),
  template: Type.Optional(
    Type.String({ minLength: 1, description: 'Only jobs submitted from this template (any version)' }),
  ),
  label: Type.Optional(
    Type.Array(Type.String({ pattern: '^[^=]+=.*$' }), {
      description: '`key=value`; repeatable; every one must match',
    }),
  ),
  name: Type.Optional(Type.String({ minLength: 1 })),
  createdAfter: Type.Optional(
    Type.String({ minLength: 1, description: 'ISO 8601 time or epoch milliseconds (inclusive)' }),
  ),
  createdBefore: Type.Optional(
    Type.String({ minLength: 1, description: 'ISO 8601 time or epoch milliseconds (exclusive)' }),
  ),
  fields: Type.Optional(
    Type.Array(StringEnum(JOB_FIELDS), {
      description: 'Fields each result carries (comma-separated); `id` always',
    }),
  ),
});
export type ListJobsQuery = Static<typeof ListJobsQuery>;

export const PlacedNode = Type.Object({
  assignment: Type.String({ description: "The node assignment's name in the spec" }),
  role: Type.String(),
  nodeId: Type.String(),
  nodeName: Type.String(),
  ip: Type.String(),
});

export const TaskView = Type.Object({
  id: Type.Integer({ description: 'Task id, unique within the job' }),
  name: Type.String(),
  status: StringEnum(TASK_STATUSES),
  attempt: Type.Integer({ minimum: 0 }),
  longRunning: Type.Boolean(),
  startedAt: NullableTime,
  readyAt: NullableTime,
  endedAt: NullableTime,
  exitCode: Nullable(Type.Integer()),
  text: Nullable(Type.String()),
});

export const StageNodeView = Type.Object({
  name: Type.String({ description: 'The node assignment' }),
  nodeId: Nullable(Type.String()),
  host: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  tasks: Type.Array(TaskView),
});

export const StageView = Type.Object({
  name: Type.String(),
  type: StringEnum(['short', 'longRunning', 'stopper'] as const),
  status: StringEnum(STAGE_STATUSES),
  needs: Type.Array(Type.String()),
  startedAt: NullableTime,
  readyAt: NullableTime,
  endedAt: NullableTime,
  nodes: Type.Array(StageNodeView),
});

export const JobDetailView = Type.Object(
  {
    ...JobSummary.properties,
    placement: Nullable(Type.Array(PlacedNode)),
    pipelines: Type.Array(Type.Object({ name: Type.String(), stages: Type.Array(Type.String()) }), {
      description: "The plan's levels: stages that run together",
    }),
    stages: Type.Array(StageView),
  },
  { description: 'The status tree of a job: stages, the nodes each runs on, the tasks on each node' },
);
export type JobDetailView = Static<typeof JobDetailView>;
export type StageView = Static<typeof StageView>;
export type TaskView = Static<typeof TaskView>;

export const SpecView = Type.Object(
  {
    raw: Type.String({ description: 'The spec as submitted' }),
    spec: Type.Object(
      { name: Type.String() },
      { additionalProperties: true, description: 'The normalized spec, defaults filled in' },
    ),
  },
  { description: "A job's spec" },
);
export type SpecView = Static<typeof SpecView>;

export const SubmitResponse = Type.Object({ id: Type.Integer({ minimum: 1 }), job: JobSummary });
export type SubmitResponse = Static<typeof SubmitResponse>;

export const StopResponse = Type.Object({ job: JobSummary });
export type StopResponse = Static<typeof StopResponse>;

export const StopQuery = Type.Object({
  force: Type.Optional(
    Type.Boolean({ default: false, description: 'Kill at once instead of SIGTERM, grace, SIGKILL' }),
  ),
});
export type StopQuery = Static<typeof StopQuery>;

export const JobIdParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Job id' }),
});
export type JobIdParams = Static<typeof JobIdParams>;

// ---------------------------------------------------------------------------------------------
// Specs and plans

/** A job spec in the body: YAML or JSON text, or a JSON object. */
export const SpecText = Type.String({ minLength: 1, description: 'A job spec, YAML or JSON' });
export const SpecObject = Type.Object({}, { additionalProperties: true, description: 'A job spec' });

/** Content types a spec may be sent as. */
export const SPEC_TEXT_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml', 'text/plain'] as const;

/** The request body of the routes that take a spec, per content type. */
export const SpecBody = {
  content: {
    'application/json': { schema: SpecObject },
    ...Object.fromEntries(SPEC_TEXT_TYPES.map((t) => [t, { schema: SpecText }])),
  },
};

/** The request body of a submission: a spec, or (multipart) a `spec` part and the job's input files. */
export const SubmitBody = {
  content: {
    ...SpecBody.content,
    'multipart/form-data': {
      schema: Type.Object(
        { spec: Type.Optional(Type.String({ description: 'The job spec, YAML or JSON' })) },
        {
          additionalProperties: true,
          description:
            'A "spec" part, and a file part for each input: named by its field, or by its filename for a field "file"',
        },
      ),
    },
  },
};

export const PlanNode = Type.Object({
  name: Type.String(),
  role: Type.String(),
  id: Type.Optional(Type.String()),
  host: Type.Optional(Type.String()),
  ip: Type.Optional(Type.String()),
});

export const PlanTask = Type.Object({
  name: Type.String(),
  driver: StringEnum(['shell', 'exec', 'docker', 'stopper'] as const),
  longRunning: Type.Boolean(),
  run: Type.String({ description: 'What runs, for display' }),
  ready: Type.Optional(Type.Array(Type.String())),
});

export const PlanStage = Type.Object({
  name: Type.String(),
  type: StringEnum(['short', 'longRunning', 'stopper'] as const),
  needs: Type.Array(Type.String()),
  nodes: Type.Array(PlanNode),
  pipelines: Type.Array(Type.Object({ name: Type.String(), tasks: Type.Array(PlanTask) })),
  use: Type.Optional(
    Type.String({ description: 'The template a `use` stage takes in; its stages come in at submission' }),
  ),
});

export const PlanView = Type.Object(
  {
    job: Type.String(),
    pipelines: Type.Array(Type.Object({ name: Type.String(), stages: Type.Array(PlanStage) })),
  },
  { description: 'The serial execution plan: pipelines of stages, their nodes and task groups' },
);
export type PlanView = Static<typeof PlanView>;

export const ValidateResponse = Type.Object(
  { valid: Type.Boolean(), problems: Type.Array(Problem) },
  { description: 'Whether the spec is valid, and every problem found' },
);
export type ValidateResponse = Static<typeof ValidateResponse>;

// ---------------------------------------------------------------------------------------------
// Events and logs

export const EventView = Type.Object({
  seq: Type.Integer({ minimum: 1, description: 'Global order of events' }),
  type: StringEnum(EVENT_TYPES),
  ts: Time,
  jobId: Type.Optional(Type.Integer()),
  nodeId: Type.Optional(Type.String()),
  stage: Type.Optional(Type.String()),
  taskId: Type.Optional(Type.Integer()),
  from: Type.Optional(Type.String()),
  to: Type.Optional(Type.String()),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type EventView = Static<typeof EventView>;

export const EventsPage = Type.Object(
  {
    events: Type.Array(EventView),
    next: Nullable(Type.Integer(), {
      description: 'Pass as `after` for the next page; null when this page was not full',
    }),
  },
  { description: 'Events in order' },
);
export type EventsPage = Static<typeof EventsPage>;

const Follow = Type.Optional(
  Type.Boolean({
    default: false,
    description: 'Stream as Server-Sent Events (also with `Accept: text/event-stream`)',
  }),
);
const After = Type.Optional(
  Type.Integer({ minimum: 0, default: 0, description: 'Only items after this id' }),
);

export const JobEventsQuery = Type.Object({
  after: After,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  follow: Follow,
});
export type JobEventsQuery = Static<typeof JobEventsQuery>;

export const EventsQuery = Type.Object({
  job: Type.Optional(Type.Integer({ minimum: 1, description: 'Only the events of this job' })),
  node: Type.Optional(Type.String({ minLength: 1, description: 'Only the events of this node' })),
  type: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      description: 'Type prefixes (`task.`, `job.status`); repeat or separate by commas',
    }),
  ),
  after: After,
  tail: Type.Optional(
    Type.Boolean({
      default: false,
      description: 'Start after the newest event: only what happens from now on (not with `after`)',
    }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  follow: Follow,
});
export type EventsQuery = Static<typeof EventsQuery>;

export const NodeEventsQuery = Type.Object({
  after: After,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
});
export type NodeEventsQuery = Static<typeof NodeEventsQuery>;

/** Headers of the routes that can stream. */
export const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({ pattern: '^[0-9]+$', description: 'Resume a stream after this id' }),
  ),
});
export type StreamHeaders = Static<typeof StreamHeaders>;

export const LogLineView = Type.Object({
  id: Type.Integer({ minimum: 1, description: "Position in the job's log; pass back as `after`" }),
  taskId: Type.Integer(),
  task: Type.String({ description: '`stage/node/task`' }),
  attempt: Type.Integer(),
  seq: Type.Integer({ description: 'Line number within the attempt' }),
  ts: Time,
  stream: StringEnum(['stdout', 'stderr', 'probe', 'system'] as const),
  text: Type.String(),
});
export type LogLineView = Static<typeof LogLineView>;

export const LogsPage = Type.Object(
  {
    lines: Type.Array(LogLineView),
    next: Nullable(Type.Integer(), {
      description: 'Pass as `after` for the next page; null when this page was not full',
    }),
  },
  { description: 'Log lines in order' },
);
export type LogsPage = Static<typeof LogsPage>;

export const LogsQuery = Type.Object({
  task: Type.Optional(
    Type.String({ minLength: 1, description: 'Task id, `stage/node/task`, `stage/task` or task name' }),
  ),
  after: After,
  before: Type.Optional(
    Type.Integer({
      minimum: 1,
      description:
        'Only lines before this id, the last `limit` of them (in order): pages back through a large log; ' +
        'a value above every id reads its tail. Not with follow',
    }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  follow: Follow,
});
export type LogsQuery = Static<typeof LogsQuery>;

/** The `data` of a stream's closing `event: end`. */
export const StreamEnd = Type.Object({ jobId: Type.Integer(), status: StringEnum(JOB_STATUSES) });
export type StreamEnd = Static<typeof StreamEnd>;

// ---------------------------------------------------------------------------------------------
// Nodes

export const NodeView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    state: StringEnum(NODE_STATES),
    connected: Type.Boolean({ description: "Whether the node's agent is connected now" }),
    host: Type.String(),
    addr: Type.Object({ ip: Type.String(), bindAddr: Type.String(), remoteAddr: Type.String() }),
    role: Type.String(),
    labels: Labels,
    provider: Type.String(),
    capacity: Type.Object({
      cpus: Type.Number(),
      memoryMb: Type.Number(),
      slots: Type.Integer({ minimum: 0, description: 'Tasks run at once; 0: no limit' }),
    }),
    capabilities: Type.Array(Type.String(), {
      description: 'What it runs beyond processes: `containers` when its container engine answered',
    }),
    startTime: Time,
    bootTime: Time,
    registeredAt: Time,
    lastSeenAt: Time,
  },
  { description: 'A node' },
);
export type NodeView = Static<typeof NodeView>;

export const NodeList = Type.Object({ results: Type.Array(NodeView) }, { description: 'Every node' });
export type NodeList = Static<typeof NodeList>;

export const NodeResponse = Type.Object({ node: NodeView }, { description: 'The node, as it is now' });
export type NodeResponse = Static<typeof NodeResponse>;

export const NodeIdParams = Type.Object({ id: Type.String({ minLength: 1, description: 'Node id' }) });
export type NodeIdParams = Static<typeof NodeIdParams>;

// ---------------------------------------------------------------------------------------------
// Service

export const Health = Type.Object({ status: Type.Literal('ok') }, { description: 'The process serves' });
export const Ready = Type.Object({ status: Type.Literal('ready') }, { description: 'Ready for traffic' });
export const MetricsText = Type.String({ description: 'Prometheus text exposition format' });
export const OpenApiDocument = Type.Object(
  { openapi: Type.String(), info: Type.Object({}, { additionalProperties: true }) },
  { additionalProperties: true, description: 'This document' },
);

// ---------------------------------------------------------------------------------------------
// Files (inputs, outputs, kept working directories, workspaces)

const FILE_KIND_VALUES = ['input', 'output', 'workdir', 'workspace'] as const;

export const FileView = Type.Object(
  {
    path: Type.String({
      description:
        "Path in the job's tree: `inputs/…`, `outputs/…` (`outputs/<node>/…` with several nodes), `workdir/…`, `workspace/…`",
    }),
    size: Type.Integer({ minimum: 0, description: 'Bytes' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the content, hex' }),
    kind: StringEnum(FILE_KIND_VALUES),
    task: Nullable(Type.String(), {
      description: 'The task that made it, `stage/node/task` (null for inputs)',
    }),
    taskId: Nullable(Type.Integer()),
    node: Nullable(Type.String(), { description: 'The node assignment it came from' }),
    nodeId: Nullable(Type.String(), { description: 'The node it came from' }),
    createdAt: Time,
  },
  { description: 'A file of a job' },
);
export type FileView = Static<typeof FileView>;

export interface FileTreeNode {
  name: string;
  path: string;
  type: 'dir' | 'file';
  size: number;
  file?: FileView;
  children?: FileTreeNode[];
}

const TreeNode = Type.Object(
  {
    name: Type.String(),
    path: Type.String(),
    type: StringEnum(['dir', 'file'] as const),
    size: Type.Integer({ minimum: 0, description: 'Bytes (of everything under a folder)' }),
    file: Type.Optional(FileView),
    children: Type.Optional(
      Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'Nodes of the same shape' }),
    ),
  },
  { description: 'A folder or a file of the tree' },
);

export const FileList = Type.Object(
  {
    files: Type.Array(FileView, { description: 'Every file, by path' }),
    tree: Type.Optional(TreeNode),
  },
  { description: "A job's files; with `tree=true` also as a tree of folders" },
);
export type FileList = Static<typeof FileList>;

export const FileListQuery = Type.Object({
  tree: Type.Optional(Type.Boolean({ default: false, description: 'Also answer the files as a tree' })),
});
export type FileListQuery = Static<typeof FileListQuery>;

export const FilePathParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Job id' }),
  '*': Type.String({ minLength: 1, description: "The file's path in the job's tree" }),
});
export type FilePathParams = Static<typeof FilePathParams>;

export const ArchiveQuery = Type.Object({
  path: Type.Optional(Type.String({ description: 'A folder of the tree (default: every file)' })),
});
export type ArchiveQuery = Static<typeof ArchiveQuery>;

export const UploadQuery = Type.Object({
  name: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Name of the input (a raw body); multipart parts use their filename',
    }),
  ),
});
export type UploadQuery = Static<typeof UploadQuery>;

export const UploadResponse = Type.Object(
  { files: Type.Array(FileView) },
  { description: 'The files stored' },
);
export type UploadResponse = Static<typeof UploadResponse>;

export const DeleteJobResponse = Type.Object(
  {
    id: Type.Integer(),
    deleted: Type.Literal(true),
    files: Type.Integer({ description: 'Files deleted with it' }),
  },
  { description: 'The job and its files are gone' },
);
export type DeleteJobResponse = Static<typeof DeleteJobResponse>;

export const SubmitQuery = Type.Object({
  hold: Type.Optional(
    Type.Boolean({
      default: false,
      description:
        'Create the job held: queued and not placed until `POST /jobs/{id}/release` (upload inputs meanwhile)',
    }),
  ),
  param: Type.Optional(
    Type.Array(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]*=' }), {
      description:
        "A parameter value, `name=value`; repeatable. Checked against the spec's `params` (type, enum values, " +
        'required); an unknown, missing or wrong one is a 400 naming it (`params.cluster: is required`)',
    }),
  ),
  template: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*(@[0-9]+)?$',
      description:
        'Submit a stored template instead of a spec in the body: `name` (its newest version) or `name@version`',
    }),
  ),
});
export type SubmitQuery = Static<typeof SubmitQuery>;

/**
 * What an upload body is, in the document. The body reaches the route as a stream, so these schemas
 * must accept any value: raw bytes (any content type; the schema only describes), or multipart parts.
 */
export const BinaryBody = {
  content: {
    'application/octet-stream': { schema: { description: "The file's bytes, as they are (streamed)" } },
    'multipart/form-data': {
      schema: {
        type: 'object',
        additionalProperties: true,
        description: 'One or more file parts (streamed)',
      },
    },
  },
};

export const WorkspaceView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    size: Type.Integer({ minimum: 0 }),
    format: StringEnum(['tar.gz', 'tar', 'zip'] as const),
    owner: Nullable(Owner),
    createdAt: Time,
  },
  {
    description:
      'An archive jobs run fresh copies of; only its owner (a user, or the members of an org) sees and uses it',
  },
);
export type WorkspaceView = Static<typeof WorkspaceView>;

export const WorkspaceList = Type.Object(
  { results: Type.Array(WorkspaceView) },
  { description: 'Newest first' },
);
export type WorkspaceList = Static<typeof WorkspaceList>;

export const WorkspaceResponse = Type.Object({ id: Type.String(), workspace: WorkspaceView });
export type WorkspaceResponse = Static<typeof WorkspaceResponse>;

export const WorkspaceQuery = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'The workspace name' }),
  owner: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'An org (name or id) to share it with; default: the caller (its user)',
    }),
  ),
});
export type WorkspaceQuery = Static<typeof WorkspaceQuery>;

export const OutputQuery = Type.Object({
  task: Type.Integer({ minimum: 1, description: 'The task that made the file' }),
  kind: StringEnum(['output', 'workdir'] as const),
  path: Type.String({ minLength: 1, description: "Relative to the task's working directory" }),
});
export type OutputQuery = Static<typeof OutputQuery>;

export const OutputResponse = Type.Object({ file: FileView }, { description: 'The file stored' });

/** Routes agents call with a job's token. */
export const JOB_TOKEN_SECURED: Array<Record<string, string[]>> = [{ jobToken: [] }];

// ---------------------------------------------------------------------------------------------
// Route helpers

/** Error statuses a route can answer with, besides 500. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503;

/** A route's `response` map: its success schemas plus the error body for each listed status and 500. */
export function responses(
  ok: Record<number, unknown>,
  errors: readonly ErrorStatus[],
): Record<number, unknown> {
  const out: Record<number, unknown> = { ...ok };
  for (const s of [...errors, 500]) out[s] = ErrorRef;
  return out;
}

/** Error statuses of every authenticated route (429: the token's rate limit). */
export const AUTH_ERRORS = [401, 403, 429] as const;
/** Error statuses of routes with a body. */
export const BODY_ERRORS = [400, 413, 415] as const;
