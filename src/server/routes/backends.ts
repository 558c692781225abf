/**
 * External backends' configs: list and read them (any user; credentials never shown), create or
 * replace and delete them (server admins). Backends the `--backends` file gives are replaced from
 * it at each start.
 */
import type { FastifyInstance } from 'fastify';
import { backendView, checkBackendConfig, toRecord } from '../../backends/config.js';
import {
  BackendConfigBody,
  BackendDeleted,
  BackendList,
  BackendParams,
  BackendResponse,
} from '../../backends/config-schema.js';
import type { BackendServices } from '../../backends/services.js';
import { JobhubError, NotFoundError } from '../../core/errors.js';
import { requireServerAdmin } from '../access.js';
import { AUTH_ERRORS, BODY_ERRORS, responses } from '../api-schemas.js';
import { audit } from '../audit.js';
import type { ApiContext } from '../context.js';
import { API, principalOf, type RouteDeps, SECURED } from './common.js';

const tags = ['backends'];

function servicesOf(ctx: ApiContext): BackendServices {
  if (!ctx.backends) throw new JobhubError('unavailable', 'external backends are not enabled on this server');
  return ctx.backends;
}

export function backendRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  app.get(
    `${API}/backends`,
    {
      schema: {
        operationId: 'listBackends',
        tags,
        summary: 'The external backends jobs may pick with their `backend` label (credentials never shown)',
        security: SECURED,
        response: responses({ 200: BackendList }, AUTH_ERRORS),
      },
    },
    async (req): Promise<BackendList> => {
      principalOf(req);
      return { results: (await ctx.store.listBackends()).map(backendView) };
    },
  );

  app.get<{ Params: BackendParams }>(
    `${API}/backends/:id`,
    {
      schema: {
        operationId: 'getBackend',
        tags,
        summary: 'One backend (credentials never shown)',
        security: SECURED,
        params: BackendParams,
        response: responses({ 200: BackendResponse }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req): Promise<BackendResponse> => {
      principalOf(req);
      const b = await ctx.store.getBackend(req.params.id);
      if (!b) throw new NotFoundError(`backend ${req.params.id}`);
      return { backend: backendView(b) };
    },
  );

  app.put<{ Params: BackendParams; Body: BackendConfigBody }>(
    `${API}/backends/:id`,
    {
      schema: {
        operationId: 'putBackend',
        tags,
        summary: 'Create or replace a backend (server admins); its token is sealed and never answered',
        security: SECURED,
        params: BackendParams,
        body: BackendConfigBody,
        response: responses({ 200: BackendResponse }, [...BODY_ERRORS, ...AUTH_ERRORS, 404, 503]),
      },
    },
    async (req): Promise<BackendResponse> => {
      const p = principalOf(req);
      requireServerAdmin(p);
      const services = servicesOf(ctx);
      checkBackendConfig(req.body);
      const record = toRecord(req.params.id, req.body, 'api', services.seal, ctx.now());
      await ctx.store.putBackend(record);
      await audit(ctx.store, p, {
        action: 'backend.put',
        details: { backend: record.id, kind: record.kind, url: String(record.config.url ?? '') },
      });
      return { backend: backendView(record) };
    },
  );

  app.delete<{ Params: BackendParams }>(
    `${API}/backends/:id`,
    {
      schema: {
        operationId: 'deleteBackend',
        tags,
        summary: 'Remove a backend (server admins); jobs running on it keep going on it until they end',
        security: SECURED,
        params: BackendParams,
        response: responses({ 200: BackendDeleted }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireServerAdmin(p);
      if (!(await ctx.store.deleteBackend(req.params.id)))
        throw new NotFoundError(`backend ${req.params.id}`);
      await audit(ctx.store, p, { action: 'backend.delete', details: { backend: req.params.id } });
      return { id: req.params.id, deleted: true as const };
    },
  );
}
