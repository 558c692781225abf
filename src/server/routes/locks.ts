/** Locks: list them with their holders and queue; declare a capacity; break one (server admins). */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../core/errors.js';
import { requireServerAdmin, seesOwner } from '../access.js';
import { AUTH_ERRORS, BODY_ERRORS, responses } from '../api-schemas.js';
import { audit } from '../audit.js';
import {
  BreakResponse,
  LockDeclBody,
  LockList,
  LockParams,
  LockResponse,
  type LockView,
} from '../lock-schemas.js';
import { lockSnapshot } from '../lock-view.js';
import { API, principalOf, type RouteDeps, SECURED } from './common.js';

const tags = ['locks'];

export function lockRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  const snapshot = (req: Parameters<typeof principalOf>[0]) => {
    const p = principalOf(req);
    return lockSnapshot(ctx.store, (job) => seesOwner(p, job.owner));
  };
  const one = async (req: Parameters<typeof principalOf>[0], name: string): Promise<LockView> =>
    (await snapshot(req)).find((l) => l.name === name) ?? {
      name,
      capacity: null,
      state: 'free',
      holders: [],
      queue: [],
    };

  app.get(
    `${API}/locks`,
    {
      schema: {
        operationId: 'listLocks',
        tags,
        summary: 'Locks: declared ones and those jobs hold or wait for, with holders and queue',
        security: SECURED,
        response: responses({ 200: LockList }, AUTH_ERRORS),
      },
    },
    async (req): Promise<LockList> => ({ results: await snapshot(req) }),
  );

  app.put<{ Params: LockParams; Body: LockDeclBody }>(
    `${API}/locks/:name`,
    {
      schema: {
        operationId: 'declareLock',
        tags,
        summary: 'Declare a lock with a capacity (at most N holders), or change its capacity',
        security: SECURED,
        params: LockParams,
        body: LockDeclBody,
        response: responses({ 200: LockResponse }, [...BODY_ERRORS, ...AUTH_ERRORS]),
      },
    },
    async (req): Promise<LockResponse> => {
      const p = principalOf(req);
      requireServerAdmin(p);
      const { name } = req.params;
      await ctx.store.putLockDecl({ name, capacity: req.body.capacity, createdAt: ctx.now() });
      await ctx.coordinator.locksDeclared();
      await audit(ctx.store, p, {
        action: 'lock.declare',
        details: { lock: name, capacity: req.body.capacity },
      });
      return { lock: await one(req, name) };
    },
  );

  app.delete<{ Params: LockParams }>(
    `${API}/locks/:name`,
    {
      schema: {
        operationId: 'undeclareLock',
        tags,
        summary: 'Remove a lock declaration (its capacity); holders keep holding it',
        security: SECURED,
        params: LockParams,
        response: responses({ 204: { type: 'null', description: 'Removed' } }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireServerAdmin(p);
      const { name } = req.params;
      if (!(await ctx.store.deleteLockDecl(name))) throw new NotFoundError(`lock declaration ${name}`);
      await ctx.coordinator.locksDeclared();
      await audit(ctx.store, p, { action: 'lock.undeclare', details: { lock: name } });
      return reply.code(204).send();
    },
  );

  app.post<{ Params: LockParams }>(
    `${API}/locks/:name/break`,
    {
      schema: {
        operationId: 'breakLock',
        tags,
        summary:
          'Break a lock: the jobs holding it hold it no more (they keep running); the next in line takes it',
        security: SECURED,
        params: LockParams,
        response: responses({ 200: BreakResponse }, AUTH_ERRORS),
      },
    },
    async (req): Promise<BreakResponse> => {
      const p = principalOf(req);
      requireServerAdmin(p);
      const { name } = req.params;
      const broken = await ctx.coordinator.breakLock(name, p.userName ?? p.name);
      await audit(ctx.store, p, { action: 'lock.break', details: { lock: name, jobs: broken } });
      return { lock: await one(req, name), broken };
    },
  );
}
