/** Nodes: list, read, their events, drain. */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../core/errors.js';
import type { NodeRecord } from '../../store/store.js';
import { eventVisibility, requireServerAdmin } from '../access.js';
import {
  AUTH_ERRORS,
  EventsPage,
  NodeEventsQuery,
  NodeIdParams,
  NodeList,
  NodeResponse,
  NodeView,
  responses,
} from '../api-schemas.js';
import { audit } from '../audit.js';
import { eventView, nodeView } from '../job-view.js';
import { API, principalOf, type RouteDeps, SECURED } from './common.js';

const tags = ['nodes'];

export function nodeRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  const view = (n: NodeRecord) => nodeView(n, ctx.connectedNodes().has(n.id));
  const getNode = async (id: string): Promise<NodeRecord> => {
    const node = await ctx.store.getNode(id);
    if (!node) throw new NotFoundError(`node ${id}`);
    return node;
  };

  app.get(
    `${API}/nodes`,
    {
      schema: {
        operationId: 'listNodes',
        tags,
        summary: 'Every node that ever registered, with its state and whether its agent is connected',
        security: SECURED,
        response: responses({ 200: NodeList }, [...AUTH_ERRORS]),
      },
    },
    async () => {
      const connected = ctx.connectedNodes();
      const nodes = await ctx.store.listNodes();
      return { results: nodes.map((n) => nodeView(n, connected.has(n.id))) };
    },
  );

  app.get<{ Params: NodeIdParams }>(
    `${API}/nodes/:id`,
    {
      schema: {
        operationId: 'getNode',
        tags,
        summary: 'One node',
        security: SECURED,
        params: NodeIdParams,
        response: responses({ 200: NodeView }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => view(await getNode(req.params.id)),
  );

  app.get<{ Params: NodeIdParams; Querystring: NodeEventsQuery }>(
    `${API}/nodes/:id/events`,
    {
      schema: {
        operationId: 'listNodeEvents',
        tags,
        summary: "A node's events: registrations and state changes",
        security: SECURED,
        params: NodeIdParams,
        querystring: NodeEventsQuery,
        response: responses({ 200: EventsPage }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      await getNode(req.params.id);
      const limit = req.query.limit ?? 1000;
      const events = await ctx.store.listEvents({
        nodeId: req.params.id,
        afterSeq: req.query.after ?? 0,
        limit,
      });
      // A node's events include its tasks': only those of jobs the caller may read are shown.
      const visible = eventVisibility(ctx.store, principalOf(req));
      const shown = [];
      for (const e of events) if (await visible(e)) shown.push(eventView(e));
      const last = events[events.length - 1];
      return { events: shown, next: events.length === limit && last ? last.seq : null };
    },
  );

  for (const draining of [true, false]) {
    app.route<{ Params: NodeIdParams }>({
      method: draining ? 'POST' : 'DELETE',
      url: `${API}/nodes/:id/drain`,
      schema: {
        operationId: draining ? 'drainNode' : 'undrainNode',
        tags,
        summary: draining
          ? 'Drain a node: it takes no new work; what runs there finishes'
          : 'End the draining of a node',
        security: SECURED,
        params: NodeIdParams,
        response: responses({ 200: NodeResponse }, [400, ...AUTH_ERRORS, 404, 409]),
      },
      handler: async (req) => {
        const p = principalOf(req);
        requireServerAdmin(p);
        await ctx.coordinator.setDraining(req.params.id, draining);
        await audit(ctx.store, p, {
          action: draining ? 'node.drain' : 'node.undrain',
          nodeId: req.params.id,
        });
        return { node: view(await getNode(req.params.id)) };
      },
    });
  }
}
