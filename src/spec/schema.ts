/**
 * The job spec's input format: seed 000's fields under their names there, design.md's additions, and
 * the spellings benchhub's own examples used (`background`, `longRunning` on a stage, `driver:
 * stopper`, `ready` as a bare list). This one schema validates input, gives the input type, and is
 * the JSON Schema that `jobhub schema` prints.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
const Name = (description: string) => Type.String({ pattern: NAME_PATTERN, description });
const Closed = { additionalProperties: false } as const;

export const Duration = Type.Union([Type.String(), Type.Number({ minimum: 0 })], {
  description: 'A duration: seconds as a number, or a string like "500ms", "30s", "5m", "1h".',
});

export const LabelMap = Type.Record(Type.String(), Type.String(), {
  description: 'Labels as a map of key to value.',
});

export const Selector = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'Node (assignment) name.' })),
    role: Type.Optional(Type.String({ description: 'Role, e.g. database or loader.' })),
    labels: Type.Optional(LabelMap),
    label: Type.Optional(
      Type.Object(
        { k: Type.String(), v: Type.String() },
        { ...Closed, description: 'benchhub form of one label.' },
      ),
    ),
    all: Type.Optional(Type.Boolean({ description: 'Matches everything.' })),
  },
  { ...Closed, description: 'All conditions given must hold; a list of selectors is an OR.' },
);

export const EnvList = Type.Union(
  [
    Type.Array(Type.Object({ k: Type.String(), v: Type.String() }, Closed)),
    Type.Record(Type.String(), Type.String()),
  ],
  { description: 'Environment: a list of {k, v} (seed 000) or a map.' },
);

const ShellBlock = Type.Object(
  { command: Type.String({ description: 'Passed to sh -c.' }) },
  { ...Closed, description: 'For driver: shell.' },
);
const ExecBlock = Type.Object(
  {
    command: Type.String({ description: 'Path or name of the program; no shell.' }),
    args: Type.Optional(Type.Array(Type.String())),
  },
  { ...Closed, description: 'For driver: exec.' },
);
const DockerBlock = Type.Object(
  {
    image: Type.String(),
    action: Type.Optional(Type.Union([Type.Literal('pull'), Type.Literal('start'), Type.Literal('run')])),
    ports: Type.Optional(
      Type.Array(Type.Object({ guest: Type.Integer(), host: Type.Integer() }, Closed), {
        description: 'Container port (guest) published on the node at host, tcp.',
      }),
    ),
    command: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String())], {
        description: "The container's command: argv, or a string run with sh -c. Default: the image's.",
      }),
    ),
    mountPath: Type.Optional(
      Type.String({
        description:
          "Where the task's working directory is mounted in the container and the command runs. Default /work.",
      }),
    ),
  },
  { ...Closed, description: 'For driver: docker. action pull (default start) makes the image present.' },
);
const StopperBlock = Type.Object(
  {
    stage: Type.String({ description: 'The long-running stage whose tasks to stop.' }),
    task: Type.Optional(Type.String({ description: 'The task to stop.' })),
    all: Type.Optional(Type.Boolean({ description: 'Stop every long-running task of the stage.' })),
  },
  Closed,
);

const DriverName = Type.Union(
  [Type.Literal('shell'), Type.Literal('exec'), Type.Literal('docker'), Type.Literal('stopper')],
  { description: 'shell, exec or docker; stopper is accepted for a stopper task.' },
);

/** A readiness probe: a short task, or an http/tcp check. */
export const Probe = Type.Object(
  {
    name: Type.Optional(Type.String()),
    driver: Type.Optional(DriverName),
    env: Type.Optional(EnvList),
    shell: Type.Optional(ShellBlock),
    exec: Type.Optional(ExecBlock),
    http: Type.Optional(
      Type.String({
        description: 'Passes when a GET answers 2xx. ${VAR} and ${VAR:-default} take the task env.',
      }),
    ),
    tcp: Type.Optional(
      Type.String({ description: 'host:port; passes when it accepts a connection. ${VAR} allowed.' }),
    ),
    timeout: Type.Optional(Duration),
    // Accepted so that the rule "a probe cannot be long-running" can name them.
    longRunning: Type.Optional(Type.Boolean()),
    background: Type.Optional(Type.Boolean()),
  },
  Closed,
);

export const Ready = Type.Object(
  {
    tasks: Type.Optional(Type.Array(Probe)),
    http: Type.Optional(Type.String({ description: 'Shorthand for one http probe.' })),
    tcp: Type.Optional(Type.String({ description: 'Shorthand for one tcp probe.' })),
    interval: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
  },
  {
    ...Closed,
    description: 'Readiness probes, retried every interval (0.5s) until all pass or timeout (60s).',
  },
);

export const Retries = Type.Union(
  [
    Type.Integer({ minimum: 0 }),
    Type.Object(
      {
        count: Type.Integer({ minimum: 0 }),
        backoff: Type.Optional(Duration),
        maxBackoff: Type.Optional(Duration),
      },
      Closed,
    ),
  ],
  {
    description:
      'Extra attempts after a failure: a count, or {count, backoff (1s, doubled each time), maxBackoff}.',
  },
);

export const Task = Type.Object(
  {
    name: Type.Optional(Name('Unique in its stage; required for long-running tasks and in stage pipelines.')),
    longRunning: Type.Optional(Type.Boolean()),
    background: Type.Optional(Type.Boolean({ description: 'Alias of longRunning (benchhub).' })),
    driver: Type.Optional(DriverName),
    env: Type.Optional(EnvList),
    stopper: Type.Optional(StopperBlock),
    shell: Type.Optional(ShellBlock),
    exec: Type.Optional(ExecBlock),
    docker: Type.Optional(DockerBlock),
    ready: Type.Optional(Type.Union([Ready, Type.Array(Probe)])),
    timeout: Type.Optional(Duration),
    retries: Type.Optional(Retries),
    workingDir: Type.Optional(
      Type.String({ description: "Relative to the job's directory on the node, or absolute." }),
    ),
    outputs: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'Files to keep, as globs relative to the working directory (`*.csv`, `results/**`, a folder): ' +
          'uploaded when the task ends, also when it fails; listed and downloadable with the job.',
      }),
    ),
    keepWorkdir: Type.Optional(
      Type.Boolean({ description: 'Keep the whole final working directory of the task with the job.' }),
    ),
  },
  Closed,
);

/** A lock the job takes before it starts (seed 002). */
export const LockItem = Type.Union(
  [
    Type.String({ minLength: 1, description: 'A lock name: taken with the default mode.' }),
    Type.Object(
      {
        name: Type.String({ minLength: 1, description: 'The lock name (may use {{.Params.x}}).' }),
        mode: Type.Optional(
          Type.Union([Type.Literal('exclusive'), Type.Literal('shared')], {
            description:
              'exclusive: no other holder; shared: together with other shared holders. Default: exclusive, ' +
              'or shared (one slot) on a lock the server declares with a capacity.',
          }),
        ),
      },
      Closed,
    ),
  ],
  { description: 'A lock: the job starts only once it holds all of its locks, taken all at once.' },
);

/** A parameter of the spec: given at submission, used as `{{.Params.<name>}}` and `JOBHUB_PARAM_<NAME>`. */
export const ParamDecl = Type.Object(
  {
    type: Type.Optional(
      Type.Union(
        [Type.Literal('string'), Type.Literal('number'), Type.Literal('boolean'), Type.Literal('enum')],
        {
          description: 'string (default), number, boolean, or enum (one of `values`).',
        },
      ),
    ),
    values: Type.Optional(
      Type.Array(Type.String(), { minItems: 1, description: 'The allowed values of an enum parameter.' }),
    ),
    default: Type.Optional(
      Type.Union([Type.String(), Type.Number(), Type.Boolean()], {
        description: 'The value when none is given at submission.',
      }),
    ),
    description: Type.Optional(Type.String()),
    required: Type.Optional(
      Type.Boolean({ description: 'A value must be given at submission (default false).' }),
    ),
  },
  Closed,
);

/** A job input: a file uploaded with the submission, or another job's file. */
export const InputItem = Type.Union(
  [
    Type.String({
      description:
        "job:ID:source[:destination] (another job's file), or the name of a file uploaded with the job.",
    }),
    Type.Object(
      {
        from: Type.Optional(
          Type.String({ description: "Another job's file: job:ID:source[:destination] (seed 003)." }),
        ),
        name: Type.Optional(Type.String({ description: 'A file uploaded with the submission.' })),
        to: Type.Optional(
          Type.String({
            description: "Where it goes, relative to each task's working directory (default: its name).",
          }),
        ),
      },
      Closed,
    ),
  ],
  { description: 'A file put into the working directory of every task before it starts.' },
);

export const Stage = Type.Object(
  {
    name: Name('Unique in the job.'),
    type: Type.Optional(
      Type.Union([Type.Literal('short'), Type.Literal('longRunning'), Type.Literal('stopper')], {
        description: 'short (default), longRunning or stopper.',
      }),
    ),
    background: Type.Optional(Type.Boolean({ description: 'Alias of type: longRunning (benchhub).' })),
    longRunning: Type.Optional(Type.Boolean({ description: 'Alias of type: longRunning (benchhub).' })),
    selectors: Type.Optional(Type.Array(Selector, { description: 'OR of selectors; none: every node.' })),
    needs: Type.Optional(
      Type.Array(Type.String(), { description: 'Stages that must be done first (a DAG).' }),
    ),
    pipelines: Type.Optional(
      Type.Array(
        Type.Object({ name: Type.Optional(Type.String()), tasks: Type.Array(Type.String()) }, Closed),
        { description: 'Task groups run one after another; the tasks of a group in parallel.' },
      ),
    ),
    // Required unless the stage has `use` (rules-uses.ts says so, at the stage).
    tasks: Type.Optional(Type.Array(Task, { minItems: 1 })),
    use: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*(@[0-9]+)?$',
        description:
          "A template's stages, taken in as a sub-graph in place of this stage (seed 004): `name` (its " +
          'newest version at submission) or `name@version`. Expanded by the server at submission.',
      }),
    ),
    params: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
        description:
          "With `use`: values of the used template's parameters (may use this job's {{.Params.x}}).",
      }),
    ),
  },
  Closed,
);

export const NodeAssignment = Type.Object(
  {
    name: Name('Unique in the job; used in selectors and {{.Nodes.<name>.Ip}}.'),
    role: Type.Optional(Type.String({ description: 'Node role, e.g. database or loader; default any.' })),
    selectors: Type.Optional(Type.Array(Selector, { description: 'OR of selectors over the nodes.' })),
    capacity: Type.Optional(
      Type.Object(
        {
          cpus: Type.Optional(Type.Number({ minimum: 0 })),
          memory: Type.Optional(
            Type.Union([Type.Number({ minimum: 0 }), Type.String()], {
              description: 'MiB as a number, or "512Mi", "2Gi".',
            }),
          ),
        },
        { ...Closed, description: 'Minimum free capacity of the node.' },
      ),
    ),
  },
  Closed,
);

export const JobSpecInput = Type.Object(
  {
    id: Type.Optional(Type.String({ description: 'Ignored: a job id is assigned at submission.' })),
    name: Name('Job name.'),
    description: Type.Optional(Type.String()),
    owner: Type.Optional(
      Type.Object(
        {
          id: Type.Optional(Type.String()),
          name: Type.Optional(Type.String()),
          type: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('org')])),
        },
        Closed,
      ),
    ),
    workload: Type.Optional(
      Type.Object(
        {
          framework: Type.Optional(Type.String()),
          frameworkVersion: Type.Optional(Type.String()),
          database: Type.Optional(Type.String()),
          databaseVersion: Type.Optional(Type.String()),
        },
        Closed,
      ),
    ),
    labels: Type.Optional(LabelMap),
    nodeAssignments: Type.Optional(Type.Array(NodeAssignment)),
    pipelines: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.Optional(Type.String()),
            stages: Type.Array(Type.String(), { description: 'Stages that run in parallel.' }),
          },
          Closed,
        ),
        { description: 'Run one after another.' },
      ),
    ),
    stages: Type.Optional(
      Type.Array(Stage, {
        minItems: 1,
        description:
          'Required, except for a job whose `backend` label picks an external backend (it has none).',
      }),
    ),
    params: Type.Optional(
      Type.Record(Type.String(), ParamDecl, {
        description:
          'Parameters by name (letters, digits, _): values given at submission (`--param k=v`), used as ' +
          '{{.Params.<name>}} in commands, env, selectors and lock names, and as JOBHUB_PARAM_<NAME>.',
      }),
    ),
    locks: Type.Optional(
      Type.Array(LockItem, {
        description:
          'Locks the job holds while it runs, taken all at once in submission order, released when it ends.',
      }),
    ),
    inputs: Type.Optional(
      Type.Array(InputItem, {
        description: "Files every task finds in its working directory: uploads, or other jobs' files.",
      }),
    ),
    workspace: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'A workspace (id or name, see `jobhub workspace push`): the job runs in a fresh copy of it.',
      }),
    ),
  },
  { ...Closed, $id: 'https://jobhub.dev/schema/job-spec.json', title: 'jobhub job spec' },
);

export type JobSpecInput = Static<typeof JobSpecInput>;
export type TaskInput = Static<typeof Task>;
export type StageInput = Static<typeof Stage>;
export type ProbeInput = Static<typeof Probe>;
export type SelectorInput = Static<typeof Selector>;
export type ParamDeclInput = Static<typeof ParamDecl>;

/** Fields later versions add; named so that using one gets "not supported yet", not "unknown". */
export const RESERVED_FIELDS: Record<string, string> = {};

/** The JSON Schema document, for editors (`jobhub schema`). */
export function jobSpecJsonSchema(): TSchema & Record<string, unknown> {
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...structuredClone(JobSpecInput) };
}
