/** A job's events and logs: a page at a time, or followed as Server-Sent Events until the job ends. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { JobhubError, NotFoundError } from '../../core/errors.js';
import type { JobStatus } from '../../core/types.js';
import type { Store } from '../../store/store.js';
import { authorizeJob } from '../access.js';
import {
  AUTH_ERRORS,
  EventsPage,
  JobEventsQuery,
  JobIdParams,
  LogsPage,
  LogsQuery,
  responses,
  StreamHeaders,
} from '../api-schemas.js';
import { eventView, findTaskRef, isFinalStatus, logLineView, taskLabel } from '../job-view.js';
import { type FollowSource, followStore, SseStream, wantsStream } from '../sse.js';
import { API, principalOf, type RouteDeps, resumeAfter, SECURED } from './common.js';

const tags = ['jobs'];
/** Items read from the store per page while streaming. */
const STREAM_PAGE = 500;

export const EventStreamText = Type.String({
  description:
    'Server-Sent Events: `id: <id>`, `event: <type>`, `data: <JSON>` per item; `: heartbeat` comments; ' +
    'a final `event: end` (data `{jobId, status}`) once the job has ended and everything was sent',
});

/** A 200 answer that is JSON, or an event stream when asked for one. */
export function pageOrStream(page: unknown, description: string) {
  return {
    description,
    content: {
      'application/json': { schema: page },
      'text/event-stream': { schema: EventStreamText },
    },
  };
}

/** Follows a job's status from the store: whether it has ended, and how. */
function jobEnd(store: Store, jobId: number) {
  let status: JobStatus | undefined;
  return {
    async finished(): Promise<boolean> {
      const job = await store.getJob(jobId);
      status = job?.status;
      return job === undefined || isFinalStatus(job.status);
    },
    async sendEnd(stream: SseStream): Promise<void> {
      await stream.send(undefined, 'end', { jobId, status });
    },
  };
}

export function jobStreamRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { ctx } = deps;
  const open = (reply: FastifyReply) => {
    const stream = SseStream.open(reply, { heartbeatMs: deps.heartbeatMs });
    deps.streams.add(stream);
    return stream;
  };

  app.get<{ Params: JobIdParams; Querystring: JobEventsQuery; Headers: StreamHeaders }>(
    `${API}/jobs/:id/events`,
    {
      schema: {
        operationId: 'listJobEvents',
        tags,
        summary: "A job's events in order; with follow, a live stream that ends when the job has ended",
        security: SECURED,
        params: JobIdParams,
        querystring: JobEventsQuery,
        headers: StreamHeaders,
        response: responses({ 200: pageOrStream(EventsPage, "The job's events") }, [
          400,
          ...AUTH_ERRORS,
          404,
        ]),
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const job = await ctx.store.getJob(id);
      if (!job) throw new NotFoundError(`job ${id}`);
      authorizeJob(principalOf(req), job, 'read');
      let after = resumeAfter(req, req.query.after);
      if (!wantsStream(req, req.query.follow)) {
        const limit = req.query.limit ?? 1000;
        const events = await ctx.store.listEvents({ jobId: id, afterSeq: after, limit });
        const last = events[events.length - 1];
        return { events: events.map(eventView), next: events.length === limit && last ? last.seq : null };
      }
      const source: FollowSource = {
        ...jobEnd(ctx.store, id),
        wakesOn: (m) => m.kind === 'events' && m.events.some((e) => e.jobId === id),
        async sendPage(stream) {
          const page = await ctx.store.listEvents({ jobId: id, afterSeq: after, limit: STREAM_PAGE });
          for (const e of page) {
            if (!(await stream.send(e.seq, e.type, eventView(e)))) break;
            after = e.seq;
          }
          return page.length;
        },
      };
      await followStore(open(reply), ctx.bus, source);
      return reply;
    },
  );

  app.get<{ Params: JobIdParams; Querystring: LogsQuery; Headers: StreamHeaders }>(
    `${API}/jobs/:id/logs`,
    {
      schema: {
        operationId: 'listJobLogs',
        tags,
        summary: "A job's log lines (or one task's); with follow, a live stream until the job has ended",
        security: SECURED,
        params: JobIdParams,
        querystring: LogsQuery,
        headers: StreamHeaders,
        response: responses({ 200: pageOrStream(LogsPage, 'Log lines, in order') }, [
          400,
          ...AUTH_ERRORS,
          404,
        ]),
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const detail = await ctx.store.getJobDetail(id);
      if (!detail) throw new NotFoundError(`job ${id}`);
      authorizeJob(principalOf(req), detail.job, 'read');
      const taskId = req.query.task === undefined ? undefined : findTaskRef(detail.tasks, req.query.task).id;
      const labels = new Map(detail.tasks.map((t) => [t.id, taskLabel(t)]));
      let after = resumeAfter(req, req.query.after);
      const read = (limit: number, beforeId?: number) =>
        ctx.store.readLogs({
          jobId: id,
          afterId: after,
          limit,
          ...(taskId !== undefined ? { taskId } : {}),
          ...(beforeId !== undefined ? { beforeId } : {}),
        });
      const streaming = wantsStream(req, req.query.follow);
      if (streaming && req.query.before !== undefined) {
        throw new JobhubError(
          'bad_request',
          'query.before pages back through a log; it does not go with follow',
          [{ path: 'query.before', message: 'not with follow' }],
        );
      }
      if (!streaming) {
        const limit = req.query.limit ?? 1000;
        const lines = await read(limit, req.query.before);
        const last = lines[lines.length - 1];
        return {
          lines: lines.map((l) => logLineView(l, labels)),
          next: lines.length === limit && last ? last.id : null,
        };
      }
      const source: FollowSource = {
        ...jobEnd(ctx.store, id),
        wakesOn: (m) =>
          m.kind === 'logs'
            ? m.lines.some((l) => l.jobId === id && (taskId === undefined || l.taskId === taskId))
            : m.events.some((e) => e.jobId === id && e.type === 'job.status'),
        async sendPage(stream) {
          const page = await read(STREAM_PAGE);
          for (const l of page) {
            if (!(await stream.send(l.id, 'log', logLineView(l, labels)))) break;
            after = l.id;
          }
          return page.length;
        },
      };
      await followStore(open(reply), ctx.bus, source);
      return reply;
    },
  );
}
