/**
 * The external backends' configuration: one TypeBox source for the `--backends` file, the
 * `/api/v1/backends` routes (validation and OpenAPI) and the views they answer with. Credentials are
 * write-only: `token` is sealed with the server key when stored, `tokenSecret` names an org secret;
 * neither is ever answered.
 */
import { type Static, Type } from '@sinclair/typebox';

/** Default time between two polls of a backend. */
export const DEFAULT_POLL_MS = 2000;
/** Default time limit of one HTTP call to a backend. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default tries of a call that could not reach the backend (or got a 5xx) before giving up. */
export const DEFAULT_RETRIES = 3;
/** Default time a running job's backend may stay unreachable before the job fails. */
export const DEFAULT_UNREACHABLE_MS = 60_000;
/** Default Jenkins build parameter carrying jobhub's run marker. */
export const DEFAULT_RUN_PARAMETER = 'JOBHUB_RUN';
/** Default wait for a backend to confirm a stop before the job is recorded stopped anyway. */
export const DEFAULT_STOP_GRACE_MS = 30_000;

export const BackendId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$',
  description: 'Letters, digits, `.`, `_`, `-`; what a job names in its `backend` label',
});

const Url = Type.String({ pattern: '^https?://', maxLength: 2000 });

const SecretRef = Type.Object(
  { org: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }) },
  { additionalProperties: false, description: "An org secret (see the org's secrets) holding the token" },
);

/** Every kind's settings in one object: which apply to which kind is checked in `checkBackendConfig`. */
export const BackendConfigBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('jenkins'), Type.Literal('webhook')]),
    url: Type.String({
      ...Url,
      description: "jenkins: Jenkins' base URL; webhook: where jobhub POSTs each job",
    }),
    job: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description: 'jenkins (required): the job to build; `folder/name` for a job in a folder',
      }),
    ),
    user: Type.Optional(Type.String({ minLength: 1, description: 'jenkins: the user of the API token' })),
    runParameter: Type.Optional(
      Type.String({
        pattern: '^([A-Za-z_][A-Za-z0-9_]{0,99})?$',
        description: `jenkins: the build parameter carrying jobhub's run marker, which a restarted server looks up so a trigger is never sent twice; the Jenkins job must declare it (a string parameter), or Jenkins drops it from the build. Empty: none (a crash right after a trigger may then build twice); default ${DEFAULT_RUN_PARAMETER}`,
      }),
    ),
    token: Type.Optional(
      Type.String({
        minLength: 1,
        writeOnly: true,
        description:
          'jenkins: the API token (Basic auth with `user`); webhook: sent as `Authorization: Bearer`. Sealed with the server key, never answered',
      }),
    ),
    tokenSecret: Type.Optional(SecretRef),
    statusUrl: Type.Optional(
      Type.String({
        ...Url,
        description:
          'webhook: polled for the job state (`{id}` is the backend id of the run, `{jobId}` the job); default: none, the backend reports through the hook',
      }),
    ),
    stopUrl: Type.Optional(
      Type.String({
        ...Url,
        description:
          'webhook: POSTed to stop a run (`{id}`, `{jobId}` as for statusUrl); default: POST `url` with `{"action":"stop"}`',
      }),
    ),
    pollMs: Type.Optional(
      Type.Integer({ minimum: 10, maximum: 600_000, description: `Default ${DEFAULT_POLL_MS}` }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 10,
        maximum: 600_000,
        description: `Per HTTP call; default ${DEFAULT_TIMEOUT_MS}`,
      }),
    ),
    retries: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 20, description: `Tries per call; default ${DEFAULT_RETRIES}` }),
    ),
    unreachableMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 86_400_000,
        description: `How long a running job's backend may stay unreachable before the job fails; default ${DEFAULT_UNREACHABLE_MS}`,
      }),
    ),
    stopGraceMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3_600_000,
        description: `How long to wait for the backend to confirm a stop; default ${DEFAULT_STOP_GRACE_MS}`,
      }),
    ),
  },
  { additionalProperties: false, description: 'A backend: its kind and settings' },
);
export type BackendConfigBody = Static<typeof BackendConfigBody>;

/** One entry of the `--backends` file. */
export const BackendFileEntry = Type.Composite([Type.Object({ id: BackendId }), BackendConfigBody], {
  additionalProperties: false,
});
export type BackendFileEntry = Static<typeof BackendFileEntry>;

export const BackendFile = Type.Object(
  { backends: Type.Array(BackendFileEntry) },
  { additionalProperties: false, description: 'The `--backends` file (YAML or JSON)' },
);
export type BackendFile = Static<typeof BackendFile>;

/** A backend as the API shows it: never its credential. */
export const BackendView = Type.Object(
  {
    id: Type.String(),
    kind: Type.Union([Type.Literal('jenkins'), Type.Literal('webhook')]),
    url: Type.String(),
    job: Type.Optional(Type.String()),
    user: Type.Optional(Type.String()),
    runParameter: Type.Optional(Type.String()),
    statusUrl: Type.Optional(Type.String()),
    stopUrl: Type.Optional(Type.String()),
    pollMs: Type.Integer(),
    timeoutMs: Type.Integer(),
    retries: Type.Integer(),
    unreachableMs: Type.Integer(),
    stopGraceMs: Type.Integer(),
    credentials: Type.String({
      description: '`none`, `sealed` (a token given to the server), or `secret ORG/NAME`; never the token',
    }),
    source: Type.Union([Type.Literal('file'), Type.Literal('api')]),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A configured backend (credentials never shown)' },
);
export type BackendView = Static<typeof BackendView>;

export const BackendList = Type.Object({ results: Type.Array(BackendView) });
export type BackendList = Static<typeof BackendList>;
export const BackendResponse = Type.Object({ backend: BackendView });
export type BackendResponse = Static<typeof BackendResponse>;
export const BackendParams = Type.Object({ id: BackendId });
export type BackendParams = Static<typeof BackendParams>;
export const BackendDeleted = Type.Object({ id: Type.String(), deleted: Type.Literal(true) });

/** What a backend reports through its hook. */
export const HookStatusBody = Type.Object(
  {
    state: Type.Union(
      [Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('stopped')],
      { description: 'The run is running, or ended so' },
    ),
    text: Type.Optional(Type.String({ maxLength: 4000, description: 'Why (shown as the task text)' })),
    progress: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);
export type HookStatusBody = Static<typeof HookStatusBody>;

export const HookProgressBody = Type.Object(
  {
    progress: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'Percent done' })),
    text: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: false },
);
export type HookProgressBody = Static<typeof HookProgressBody>;

export const HookOutputBody = Type.Object(
  {
    lines: Type.Optional(Type.Array(Type.String({ maxLength: 65_536 }), { maxItems: 10_000 })),
    text: Type.Optional(Type.String({ maxLength: 4_000_000, description: 'Split into lines' })),
    stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr')])),
  },
  { additionalProperties: false },
);
export type HookOutputBody = Static<typeof HookOutputBody>;

export const HookAccepted = Type.Object({
  jobId: Type.Integer(),
  accepted: Type.Integer({ description: 'Lines stored, or 1 for a status/progress' }),
});
export type HookAccepted = Static<typeof HookAccepted>;

export const HookFileList = Type.Object({
  results: Type.Array(
    Type.Object({
      path: Type.String(),
      size: Type.Integer(),
      sha256: Type.String(),
      url: Type.String({ description: 'Fetch it with the same hook token' }),
    }),
  ),
});
export type HookFileList = Static<typeof HookFileList>;

export const HookJobParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
export type HookJobParams = Static<typeof HookJobParams>;
export const HookFileParams = Type.Object({ id: Type.Integer({ minimum: 1 }), '*': Type.String() });
export type HookFileParams = Static<typeof HookFileParams>;
