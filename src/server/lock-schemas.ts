/** The locks API's contract: one TypeBox source for validation, the routes' and the CLI's types, OpenAPI. */
import { type Static, Type } from '@sinclair/typebox';

const Mode = Type.Union([Type.Literal('exclusive'), Type.Literal('shared')]);
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const LockEntry = Type.Object({
  /** null: a job of an owner the caller may not see. */
  jobId: Type.Union([Type.Integer(), Type.Null()], { description: "null: another owner's job" }),
  mode: Mode,
  since: Time,
});

export const LockView = Type.Object(
  {
    name: Type.String(),
    capacity: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'Declared capacity (a semaphore); null: not declared',
    }),
    state: Type.Union([Type.Literal('free'), Type.Literal('shared'), Type.Literal('exclusive')]),
    holders: Type.Array(LockEntry, { description: 'Jobs that hold it (running or stopping)' }),
    queue: Type.Array(LockEntry, { description: 'Queued jobs that want it, first come first served' }),
  },
  { description: 'A lock: declared on the server, held, or wanted by a queued job' },
);
export type LockView = Static<typeof LockView>;

export const LockList = Type.Object({ results: Type.Array(LockView) });
export type LockList = Static<typeof LockList>;

export const LockParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });
export type LockParams = Static<typeof LockParams>;

export const LockDeclBody = Type.Object(
  { capacity: Type.Integer({ minimum: 1, description: 'At most this many jobs hold it at once' }) },
  { additionalProperties: false },
);
export type LockDeclBody = Static<typeof LockDeclBody>;

export const LockResponse = Type.Object({ lock: LockView });
export type LockResponse = Static<typeof LockResponse>;

export const BreakResponse = Type.Object({
  lock: LockView,
  broken: Type.Array(Type.Integer(), { description: 'The jobs that held it and hold it no more' }),
});
export type BreakResponse = Static<typeof BreakResponse>;
