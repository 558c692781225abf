/** The schedules API's contract: one TypeBox source for validation, the routes' and the CLI's types, OpenAPI. */
import { type Static, Type } from '@sinclair/typebox';

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const OwnerView = Type.Union([
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    type: Type.Union([Type.Literal('user'), Type.Literal('org')]),
  }),
  Type.Null(),
]);

export const ScheduleView = Type.Object(
  {
    template: Type.String(),
    version: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'A pinned template version; null: the newest at each tick',
    }),
    cron: Type.String(),
    timezone: Type.String(),
    params: Type.Record(Type.String(), Type.String()),
    owner: OwnerView,
    submitter: Type.Union([Type.String(), Type.Null()]),
    paused: Type.Boolean(),
    nextAt: Time,
    lastAt: Time,
    lastJobId: Type.Union([Type.Integer(), Type.Null()]),
    lastError: Type.Union([Type.String(), Type.Null()]),
    createdAt: Time,
  },
  { description: "A template's cron schedule" },
);
export type ScheduleView = Static<typeof ScheduleView>;

export const ScheduleList = Type.Object({ results: Type.Array(ScheduleView) });
export type ScheduleList = Static<typeof ScheduleList>;

export const ScheduleResponse = Type.Object({ schedule: ScheduleView });
export type ScheduleResponse = Static<typeof ScheduleResponse>;

export const ScheduleBody = Type.Object(
  {
    cron: Type.String({
      minLength: 1,
      description:
        'minute hour day-of-month month day-of-week (or a leading seconds field, or @daily...), in `timezone`',
    }),
    timezone: Type.Optional(Type.String({ minLength: 1, description: 'IANA time zone (default UTC)' })),
    params: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'Parameter values for every run' }),
    ),
    version: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Pin this template version (default: the newest at each tick)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ScheduleBody = Static<typeof ScheduleBody>;
