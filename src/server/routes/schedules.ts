/**
 * Schedules: a template carries at most one cron schedule. Set it (who sets it is the submitter of
 * its jobs, which belong to the template's owner), list, read, pause, resume, remove.
 */
import type { FastifyInstance } from 'fastify';
import { nextFire, parseCron } from '../../core/cron.js';
import { JobhubError, NotFoundError } from '../../core/errors.js';
import { loadSpec } from '../../spec/index.js';
import { applyParams } from '../../spec/params.js';
import type { ScheduleRecord } from '../../store/store.js';
import { requireFullScope, seesOwner } from '../access.js';
import { AUTH_ERRORS, BODY_ERRORS, responses } from '../api-schemas.js';
import { audit } from '../audit.js';
import type { Principal } from '../context.js';
import { iso } from '../job-view.js';
import { ScheduleBody, ScheduleList, ScheduleResponse, type ScheduleView } from '../schedule-schemas.js';
import { resolveOwner } from '../submission.js';
import { TemplateNameParams } from '../template-schemas.js';
import { findTemplate } from '../templates.js';
import { API, principalOf, type RouteDeps, SECURED } from './common.js';

const tags = ['templates'];

export function scheduleView(s: ScheduleRecord): ScheduleView {
  return {
    template: s.template,
    version: s.templateVersion,
    cron: s.cron,
    timezone: s.timezone,
    params: s.params,
    owner: s.owner,
    submitter: s.submitter,
    paused: s.paused,
    nextAt: iso(s.nextAt),
    lastAt: s.lastAt === null ? null : iso(s.lastAt),
    lastJobId: s.lastJobId,
    lastError: s.lastError,
    createdAt: iso(s.createdAt),
  };
}

export function scheduleRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  /** The schedule of a template the caller may see and change. */
  const mine = async (p: Principal, name: string): Promise<ScheduleRecord> => {
    await findTemplate(ctx.store, p, name);
    const s = await ctx.store.getSchedule(name);
    if (!s || !seesOwner(p, s.owner)) throw new NotFoundError(`schedule of template ${name}`);
    return s;
  };
  /** Changing a schedule: the same right as submitting the template's jobs. */
  const mayChange = async (p: Principal, s: ScheduleRecord) => {
    requireFullScope(p);
    await resolveOwner(ctx.store, p, s.owner ?? undefined);
  };

  app.get(
    `${API}/schedules`,
    {
      schema: {
        operationId: 'listSchedules',
        tags,
        summary: "Templates' cron schedules, with their next and last run",
        security: SECURED,
        response: responses({ 200: ScheduleList }, AUTH_ERRORS),
      },
    },
    async (req): Promise<ScheduleList> => {
      const p = principalOf(req);
      const all = await ctx.store.listSchedules();
      return { results: all.filter((s) => seesOwner(p, s.owner)).map(scheduleView) };
    },
  );

  app.get<{ Params: TemplateNameParams }>(
    `${API}/templates/:name/schedule`,
    {
      schema: {
        operationId: 'getSchedule',
        tags,
        summary: "A template's cron schedule",
        security: SECURED,
        params: TemplateNameParams,
        response: responses({ 200: ScheduleResponse }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req): Promise<ScheduleResponse> => ({
      schedule: scheduleView(await mine(principalOf(req), req.params.name)),
    }),
  );

  app.put<{ Params: TemplateNameParams; Body: ScheduleBody }>(
    `${API}/templates/:name/schedule`,
    {
      schema: {
        operationId: 'setSchedule',
        tags,
        summary: 'Give a template a cron schedule (or change it): the server submits it on time, once',
        security: SECURED,
        params: TemplateNameParams,
        body: ScheduleBody,
        response: responses({ 200: ScheduleResponse }, [...BODY_ERRORS, ...AUTH_ERRORS, 404]),
      },
    },
    async (req): Promise<ScheduleResponse> => {
      const p = principalOf(req);
      requireFullScope(p);
      const b = req.body;
      const ref = b.version !== undefined ? `${req.params.name}@${b.version}` : req.params.name;
      const t = await findTemplate(ctx.store, p, ref);
      const cron = parseCron(b.cron, b.timezone ?? 'UTC');
      const params = b.params ?? {};
      // The values must suit the template now (they are checked again at each tick).
      const spec = applyParams(loadSpec(t.rawSpec).spec, params).spec;
      const owner = await resolveOwner(ctx.store, p, t.owner ?? spec.owner);
      const now = ctx.now();
      const record: ScheduleRecord = {
        template: t.name,
        templateVersion: b.version ?? null,
        cron: b.cron,
        timezone: cron.zone,
        params,
        owner,
        submitter: p.userName ?? p.name,
        paused: false,
        nextAt: nextFire(cron, now),
        lastAt: null,
        lastJobId: null,
        lastError: null,
        createdAt: now,
      };
      await ctx.store.putSchedule(record);
      await audit(ctx.store, p, {
        action: 'schedule.set',
        details: { template: t.name, cron: b.cron, timezone: cron.zone },
      });
      const saved = await ctx.store.getSchedule(t.name);
      if (!saved) throw new JobhubError('internal', 'the schedule was not kept');
      return { schedule: scheduleView(saved) };
    },
  );

  for (const paused of [true, false]) {
    app.post<{ Params: TemplateNameParams }>(
      `${API}/templates/:name/schedule/${paused ? 'pause' : 'resume'}`,
      {
        schema: {
          operationId: paused ? 'pauseSchedule' : 'resumeSchedule',
          tags,
          summary: paused
            ? 'Pause a schedule: no runs until it is resumed'
            : 'Resume a schedule: it fires at its next tick from now (missed ticks are not made up)',
          security: SECURED,
          params: TemplateNameParams,
          response: responses({ 200: ScheduleResponse }, [...AUTH_ERRORS, 404]),
        },
      },
      async (req): Promise<ScheduleResponse> => {
        const p = principalOf(req);
        const s = await mine(p, req.params.name);
        await mayChange(p, s);
        const next = paused ? s.nextAt : nextFire(parseCron(s.cron, s.timezone), ctx.now());
        await ctx.store.setSchedulePaused(s.template, paused, next);
        await audit(ctx.store, p, {
          action: paused ? 'schedule.pause' : 'schedule.resume',
          details: { template: s.template },
        });
        return { schedule: scheduleView(await mine(p, s.template)) };
      },
    );
  }

  app.delete<{ Params: TemplateNameParams }>(
    `${API}/templates/:name/schedule`,
    {
      schema: {
        operationId: 'deleteSchedule',
        tags,
        summary: "Remove a template's schedule",
        security: SECURED,
        params: TemplateNameParams,
        response: responses({ 204: { type: 'null', description: 'Removed' } }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const s = await mine(p, req.params.name);
      await mayChange(p, s);
      await ctx.store.deleteSchedule(s.template);
      await audit(ctx.store, p, { action: 'schedule.delete', details: { template: s.template } });
      return reply.code(204).send();
    },
  );
}
