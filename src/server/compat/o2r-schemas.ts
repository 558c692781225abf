/**
 * The schemas of the o2r job API (seed 003) at `/api/v1/job` (singular: jobhub's own API is
 * `/api/v1/jobs`). They validate requests and make the routes' part of jobhub's OpenAPI document.
 */
import { type Static, Type } from '@sinclair/typebox';

export const O2R_STATUSES = ['success', 'failure', 'running'] as const;
export type O2rStatus = (typeof O2R_STATUSES)[number];
export const STEP_STATUSES = ['queued', 'running', 'success', 'failure', 'warning', 'skip'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

const Status = Type.Unsafe<O2rStatus>({
  type: 'string',
  enum: [...O2R_STATUSES],
  description:
    'success: every step succeeded; failure: one failed (or the job was stopped); running: not ended',
});

const Form = Type.Object(
  { compendium_id: Type.Optional(Type.String({ description: 'The workspace (id or name) to run' })) },
  { additionalProperties: true },
);

/** The body: curl -F (multipart), curl -d (form) or JSON; the multipart stream reaches the route. */
export const CreateJobBody = {
  content: {
    'multipart/form-data': { schema: { ...Form, description: 'Form fields; compendium_id is required' } },
    'application/x-www-form-urlencoded': { schema: Form },
    'application/json': { schema: Form },
  },
};

export const CreatedJob = Type.Object(
  { job_id: Type.String({ description: 'The job id (jobhub job id, as text)' }) },
  { description: 'The job was created and runs' },
);

const Csv = (description: string) =>
  Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description }));

export const ListJobQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  start: Type.Optional(
    Type.Integer({ minimum: 1, default: 1, description: 'From this result on, 1-indexed' }),
  ),
  compendium_id: Csv('Compendium (workspace) ids or names, comma-separated'),
  status: Type.Optional(
    Type.Array(Type.Unsafe<O2rStatus>({ type: 'string', enum: [...O2R_STATUSES] }), {
      description: 'success, failure, running (comma-separated)',
    }),
  ),
  state: Type.Optional(
    Type.Array(Type.Unsafe<O2rStatus>({ type: 'string', enum: [...O2R_STATUSES] }), {
      description: "The same as status (the seed's curl example says state)",
    }),
  ),
  fields: Type.Optional(
    Type.Array(Type.Unsafe<'status'>({ type: 'string', enum: ['status'] }), {
      description: 'status: results are objects {id, status} instead of ids',
    }),
  ),
});
export type ListJobQuery = Static<typeof ListJobQuery>;

export const JobIdList = Type.Object(
  {
    results: Type.Array(Type.Union([Type.String(), Type.Object({ id: Type.String(), status: Status })]), {
      description: 'Job ids, newest first; objects with fields=status',
    }),
    next: Type.Optional(Type.String({ description: 'The next page, when there is one' })),
    previous: Type.Optional(Type.String({ description: 'The previous page, when there is one' })),
  },
  { description: 'Jobs, newest first' },
);
export type JobIdList = Static<typeof JobIdList>;

export const JobParams = Type.Object({
  id: Type.String({ minLength: 1, description: 'Job id' }),
});
export type JobParams = Static<typeof JobParams>;

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'ISO 8601' });

export const Step = Type.Object(
  {
    status: Type.Unsafe<StepStatus>({ type: 'string', enum: [...STEP_STATUSES] }),
    start: Time,
    end: Time,
    text: Type.String({ description: 'Why it is in that state, when there is something to say' }),
  },
  { description: 'A stage of the job' },
);
export type Step = Static<typeof Step>;

export interface O2rFileNode {
  name: string;
  path: string;
  type: 'directory' | 'file';
  size: number;
  /** Files: where to download it from (jobhub's file route). */
  url?: string;
  children?: O2rFileNode[];
}

const FileNode = Type.Object(
  {
    name: Type.String(),
    path: Type.String({ description: "Path in the job's tree" }),
    type: Type.Unsafe<'directory' | 'file'>({ type: 'string', enum: ['directory', 'file'] }),
    size: Type.Integer({ minimum: 0 }),
    url: Type.Optional(Type.String({ description: 'A file: its download URL' })),
    children: Type.Optional(
      Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'Nodes of the same shape' }),
    ),
  },
  { description: "The job's files as a tree: inputs, outputs, working directories, workspace" },
);

export const JobView = Type.Object(
  {
    id: Type.String(),
    compendium_id: Type.Union([Type.String(), Type.Null()], { description: 'The workspace it ran' }),
    creation_date: Type.String({ format: 'date-time' }),
    status: Status,
    steps: Type.Record(Type.String(), Step, { description: 'Each stage of the job, by name, in spec order' }),
    files: FileNode,
  },
  { description: 'One job' },
);
