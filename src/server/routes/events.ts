/** Every event of the store, filtered; or followed live as Server-Sent Events (no end). */
import type { FastifyInstance } from 'fastify';
import type { EventQuery, EventRecord } from '../../store/store.js';
import { eventVisibility } from '../access.js';
import { AUTH_ERRORS, EventsPage, EventsQuery, responses, StreamHeaders } from '../api-schemas.js';
import { eventView } from '../job-view.js';
import { followStore, SseStream, wantsStream } from '../sse.js';
import { API, principalOf, type RouteDeps, resumeAfter, SECURED, splitCommas } from './common.js';
import { pageOrStream } from './job-streams.js';

const STREAM_PAGE = 500;

export function eventRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { ctx } = deps;
  app.get<{ Querystring: EventsQuery; Headers: StreamHeaders }>(
    `${API}/events`,
    {
      preValidation: splitCommas(['type']),
      schema: {
        operationId: 'listEvents',
        tags: ['events'],
        summary: 'Events of every job and node, filtered; with follow, a live stream',
        security: SECURED,
        querystring: EventsQuery,
        headers: StreamHeaders,
        response: responses({ 200: pageOrStream(EventsPage, 'Events in order') }, [400, ...AUTH_ERRORS]),
      },
    },
    async (req, reply) => {
      const q = req.query;
      const visible = eventVisibility(ctx.store, principalOf(req));
      const filter: EventQuery = {
        ...(q.job !== undefined ? { jobId: q.job } : {}),
        ...(q.node !== undefined ? { nodeId: q.node } : {}),
        ...(q.type && q.type.length > 0 ? { types: q.type } : {}),
      };
      let after = resumeAfter(req, q.after);
      // Only what happens from now on (a live view that already read the current state).
      if (q.tail === true && after === 0) after = await ctx.store.lastEventSeq();
      if (!wantsStream(req, q.follow)) {
        const limit = q.limit ?? 1000;
        const events = await ctx.store.listEvents({ ...filter, afterSeq: after, limit });
        const last = events[events.length - 1];
        const shown = [];
        for (const e of events) if (await visible(e)) shown.push(eventView(e));
        return { events: shown, next: events.length === limit && last ? last.seq : null };
      }
      const matches = (e: EventRecord) =>
        (filter.jobId === undefined || e.jobId === filter.jobId) &&
        (filter.nodeId === undefined || e.nodeId === filter.nodeId) &&
        (filter.types === undefined || filter.types.some((t) => e.type.startsWith(t)));
      const stream = SseStream.open(reply, { heartbeatMs: deps.heartbeatMs });
      deps.streams.add(stream);
      await followStore(stream, ctx.bus, {
        wakesOn: (m) => m.kind === 'events' && m.events.some(matches),
        async sendPage(s) {
          const page = await ctx.store.listEvents({ ...filter, afterSeq: after, limit: STREAM_PAGE });
          for (const e of page) {
            if ((await visible(e)) && !(await s.send(e.seq, e.type, eventView(e)))) break;
            after = e.seq;
          }
          return page.length;
        },
      });
      return reply;
    },
  );
}
