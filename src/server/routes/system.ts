/** Service routes: liveness, readiness, Prometheus metrics, and the OpenAPI document. */
import type { FastifyInstance } from 'fastify';
import { Health, MetricsText, OpenApiDocument, Ready, responses } from '../api-schemas.js';
import { API, type RouteDeps } from './common.js';

const tags = ['service'];

export function systemRoutes(
  app: FastifyInstance,
  { ctx }: RouteDeps,
  opts: { refreshMetrics: () => Promise<void> },
): void {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'health',
        tags,
        summary: 'Liveness: 200 while the process serves',
        security: [],
        response: responses({ 200: Health }, []),
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'ready',
        tags,
        summary: 'Readiness: 200 once the store is open and the coordinator has resumed, else 503',
        security: [],
        response: responses({ 200: Ready }, [503]),
      },
    },
    async (_req, reply) => {
      if (!ctx.ready()) {
        return reply.code(503).send({ error: 'the server is not ready yet', code: 'unavailable' });
      }
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'metrics',
        tags,
        summary: 'Prometheus metrics (text exposition format)',
        security: [],
        response: responses(
          { 200: { description: 'Metrics', content: { 'text/plain': { schema: MetricsText } } } },
          [],
        ),
      },
    },
    async (_req, reply) => {
      await opts.refreshMetrics();
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render());
    },
  );

  app.get(
    `${API}/openapi.json`,
    {
      schema: {
        operationId: 'openapi',
        tags,
        summary: 'This API, as an OpenAPI 3.1 document',
        security: [],
        response: responses({ 200: OpenApiDocument }, []),
      },
    },
    async () => app.swagger(),
  );
}
