/**
 * The schemas of the ASCOB runs API (seed 002), field for field as ASCOB's own OpenAPI document
 * (api.yaml) names them; they validate requests and make the routes' part of jobhub's document.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ASCOB_STATUSES } from './ascob-view.js';

const StatusWord = Type.Unsafe<(typeof ASCOB_STATUSES)[number]>({
  type: 'string',
  enum: [...ASCOB_STATUSES],
  description:
    'DEFINED (manualStart, not started), WAITING_LOCKS, SUBMITTED, RUNNING, ABORTING, ABORTED, FAILED, ' +
    'SUCCEDED (spelled as ASCOB spells it); PENDING_SUBMIT and IN_DOUBT are ASCOB words jobhub never gives',
});

const AscobTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}$',
  description: "ASCOB's time format, yyyy-MM-dd'T'HH:mm:ss.SSS, in UTC",
});

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);

export const AscobJobSpecSchema = Type.Object(
  {
    description: Type.Optional(Type.String()),
    submitter: Type.Optional(
      Type.String({
        description:
          "The end user the run is for (default: the token's user); another name needs a token that may act for others",
      }),
    ),
    labels: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description:
          "Labels of the job; `_execution_backend_id: dummyBackend` runs ASCOB's dummy without a spec",
      }),
    ),
    parameters: Type.Optional(
      Type.Record(Type.String(), Scalar, {
        description:
          "Values of the spec's parameters ({{.Params.x}}, JOBHUB_PARAM_X); undeclared ones are strings",
      }),
    ),
    locks: Type.Optional(
      Type.Array(Type.Object({ key: Type.String({ minLength: 1 }) }), {
        description: 'Locks the run takes before it starts (jobhub locks by name)',
      }),
    ),
    manualStart: Type.Optional(
      Type.Boolean({ description: 'Create the run DEFINED (held): upload its files, then GET .../start' }),
    ),
    runtimeVariables: Type.Optional(Type.Boolean({ description: 'Accepted and ignored' })),
    jobhub: Type.Optional(
      Type.Union([Type.String(), Type.Object({}, { additionalProperties: true })], {
        description: 'A full jobhub job spec (object, or YAML/JSON text): what the run runs',
      }),
    ),
  },
  { description: "ASCOB's JobSpec, with a jobhub spec under `jobhub`" },
);

export const SubmitRunBody = Type.Object({ jobSpec: AscobJobSpecSchema });
export type SubmitRunBody = Static<typeof SubmitRunBody>;

export const SubmitRunResponse = Type.Object(
  { runId: Type.Integer({ description: 'The run id: the jobhub job id' }) },
  { description: 'The run was created' },
);

export const RunInfoSchema = Type.Object(
  {
    id: Type.Integer(),
    parentId: Type.Optional(Type.Integer({ description: 'The run this one resubmitted (only then)' })),
    status: StatusWord,
    description: Type.Union([Type.String(), Type.Null()]),
    submitter: Type.Union([Type.String(), Type.Null()]),
    definedTime: AscobTime,
    submissionTime: Type.Union([AscobTime, Type.Null()]),
    endTime: Type.Union([AscobTime, Type.Null()]),
  },
  { description: "A run, as ASCOB's RunInfo" },
);

export const RunIdParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Run id (the job id)' }),
});
export type RunIdParams = Static<typeof RunIdParams>;

export const RunFileParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Run id (the job id)' }),
  fileId: Type.String({ minLength: 1, description: "The file's name in the run's inputs" }),
});
export type RunFileParams = Static<typeof RunFileParams>;

export const StopRunQuery = Type.Object({
  force: Type.Optional(Type.Boolean({ description: 'Kill running tasks at once (no grace period)' })),
});
export type StopRunQuery = Static<typeof StopRunQuery>;

export const ResubmitQuery = Type.Object({
  submitter: Type.Optional(
    Type.String({ description: "The new run's submitter (default the caller); another name needs act-for" }),
  ),
});
export type ResubmitQuery = Static<typeof ResubmitQuery>;

export const UploadedRunFile = Type.Object(
  {
    runId: Type.Integer(),
    fileId: Type.String(),
    size: Type.Integer({ minimum: 0 }),
    sha256: Type.String(),
  },
  { description: 'The file was kept as an input of the run' },
);

const Words = Type.Union([StatusWord, Type.Array(StatusWord)]);

export const SearchRunsBody = Type.Object(
  {
    submitterFilter: Type.Optional(Type.String()),
    statusFilter: Type.Optional(Words),
    createdBeforeFilter: Type.Optional(
      Type.String({ description: "ASCOB's time (UTC), ISO 8601, or epoch ms" }),
    ),
    createdAfterFilter: Type.Optional(
      Type.String({ description: "ASCOB's time (UTC), ISO 8601, or epoch ms" }),
    ),
    maxResults: Type.Optional(Type.Integer({ minimum: 0, description: 'Default (and 0) 20; at most 1000' })),
    submitter: Type.Optional(Type.String({ description: 'Short for submitterFilter' })),
    status: Type.Optional(Words),
    createdBefore: Type.Optional(Type.String()),
    createdAfter: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { description: "ASCOB's SearchRunRequest (the short names are accepted too)" },
);
export type SearchRunsBody = Static<typeof SearchRunsBody>;

export const SearchRunsResponse = Type.Object(
  { items: Type.Array(RunInfoSchema) },
  { description: 'Matching runs, newest first' },
);

export const OutputText = Type.String({ description: "The run's log: every line of its tasks, in order" });
