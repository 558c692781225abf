/**
 * Who is who: `whoami`, users and orgs (server admins), org members and secrets (org admins), and
 * API tokens (each user their own; server admins all, and agent tokens). Every change is audited.
 */
import { randomUUID } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import { ConflictError, JobhubError, NotFoundError } from '../../core/errors.js';
import type { OrgRecord, TokenRecord, UserRecord } from '../../store/store.js';
import { requireFullScope, requireOrgAdmin, requireServerAdmin } from '../access.js';
import { AUTH_ERRORS, BODY_ERRORS, responses } from '../api-schemas.js';
import { audit } from '../audit.js';
import type { Principal } from '../context.js';
import {
  MemberParams,
  MemberView,
  NewOrg,
  NewTokenBody,
  NewTokenResponse,
  NewUser,
  OrgParams,
  OrgView,
  SecretBody,
  SecretParams,
  SetRole,
  TokenParams,
  TokenView,
  UserView,
  WhoAmI,
} from '../identity-schemas.js';
import { isoOrNull } from '../job-view.js';
import { hashToken, newToken } from '../tokens.js';
import { API, principalOf, type RouteDeps, SECURED } from './common.js';

const userView = (u: UserRecord): Static<typeof UserView> => ({
  ...u,
  createdAt: new Date(u.createdAt).toISOString(),
});
const orgView = (o: OrgRecord): Static<typeof OrgView> => ({
  ...o,
  createdAt: new Date(o.createdAt).toISOString(),
});
function tokenView(t: TokenRecord, user: string | null): Static<typeof TokenView> {
  return {
    id: t.id,
    kind: t.kind,
    name: t.name,
    user,
    scope: t.scope,
    actFor: t.actFor,
    createdAt: new Date(t.createdAt).toISOString(),
    expiresAt: isoOrNull(t.expiresAt),
    revokedAt: isoOrNull(t.revokedAt),
  };
}

const tags = ['identity'];

export function identityRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  const { store } = ctx;
  const orgOf = async (p: Principal, idOrName: string): Promise<OrgRecord> => {
    const org = await store.getOrg(idOrName);
    if (!org || (!p.serverAdmin && !p.orgs.has(org.id))) throw new NotFoundError(`org ${idOrName}`);
    return org;
  };
  const userName = async (id: string | null) => (id ? ((await store.getUser(id))?.name ?? id) : null);

  app.get(
    `${API}/whoami`,
    {
      schema: {
        operationId: 'whoami',
        tags,
        summary: 'Who this token is',
        security: SECURED,
        response: responses({ 200: WhoAmI }, AUTH_ERRORS),
      },
    },
    async (req) => {
      const p = principalOf(req);
      const user = p.userId ? await store.getUser(p.userId) : undefined;
      const token = await store.getToken(p.tokenId);
      if (!token) throw new JobhubError('unauthorized', 'unknown token');
      const orgs = p.userId ? await store.listMemberships({ userId: p.userId }) : [];
      return {
        user: user ? userView(user) : null,
        token: tokenView(token, p.userName),
        orgs: orgs.map((m) => ({ id: m.orgId, name: m.orgName, role: m.role })),
      };
    },
  );

  app.post<{ Body: Static<typeof NewUser> }>(
    `${API}/users`,
    {
      schema: {
        operationId: 'createUser',
        tags,
        summary: 'Make a user (server admins)',
        security: SECURED,
        body: NewUser,
        response: responses({ 201: UserView }, [...BODY_ERRORS, ...AUTH_ERRORS, 409]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireServerAdmin(p);
      if (await store.getUser(req.body.name)) throw new ConflictError(`user ${req.body.name} exists`);
      const user = await store.createUser({
        id: randomUUID(),
        name: req.body.name,
        serverAdmin: req.body.serverAdmin === true,
        createdAt: ctx.now(),
      });
      await audit(store, p, {
        action: 'user.create',
        details: { user: user.name, serverAdmin: user.serverAdmin },
      });
      return reply.code(201).send(userView(user));
    },
  );

  app.get(
    `${API}/users`,
    {
      schema: {
        operationId: 'listUsers',
        tags,
        summary: 'Every user (server admins)',
        security: SECURED,
        response: responses({ 200: Type.Object({ results: Type.Array(UserView) }) }, AUTH_ERRORS),
      },
    },
    async (req) => {
      if (!principalOf(req).serverAdmin)
        throw new JobhubError('forbidden', 'only a server admin may list users');
      return { results: (await store.listUsers()).map(userView) };
    },
  );

  app.post<{ Body: Static<typeof NewOrg> }>(
    `${API}/orgs`,
    {
      schema: {
        operationId: 'createOrg',
        tags,
        summary: 'Make an org (server admins)',
        security: SECURED,
        body: NewOrg,
        response: responses({ 201: OrgView }, [...BODY_ERRORS, ...AUTH_ERRORS, 409]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireServerAdmin(p);
      if (await store.getOrg(req.body.name)) throw new ConflictError(`org ${req.body.name} exists`);
      const org = await store.createOrg({ id: randomUUID(), name: req.body.name, createdAt: ctx.now() });
      await audit(store, p, { action: 'org.create', details: { org: org.name } });
      return reply.code(201).send(orgView(org));
    },
  );

  app.get(
    `${API}/orgs`,
    {
      schema: {
        operationId: 'listOrgs',
        tags,
        summary: "The caller's orgs (every org for server admins)",
        security: SECURED,
        response: responses({ 200: Type.Object({ results: Type.Array(OrgView) }) }, AUTH_ERRORS),
      },
    },
    async (req) => {
      const p = principalOf(req);
      const all = await store.listOrgs();
      return { results: all.filter((o) => p.serverAdmin || p.orgs.has(o.id)).map(orgView) };
    },
  );

  app.get<{ Params: Static<typeof OrgParams> }>(
    `${API}/orgs/:org/members`,
    {
      schema: {
        operationId: 'listMembers',
        tags,
        summary: "An org's members",
        security: SECURED,
        params: OrgParams,
        response: responses({ 200: Type.Object({ results: Type.Array(MemberView) }) }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const org = await orgOf(principalOf(req), req.params.org);
      const members = await store.listMemberships({ orgId: org.id });
      return { results: members.map((m) => ({ user: m.userName, userId: m.userId, role: m.role })) };
    },
  );

  app.put<{ Params: Static<typeof MemberParams>; Body: Static<typeof SetRole> }>(
    `${API}/orgs/:org/members/:user`,
    {
      schema: {
        operationId: 'setMember',
        tags,
        summary: "Set a user's role in an org (org admins)",
        security: SECURED,
        params: MemberParams,
        body: SetRole,
        response: responses({ 200: MemberView }, [...BODY_ERRORS, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      const org = await orgOf(p, req.params.org);
      requireOrgAdmin(p, org.id);
      const user = await store.getUser(req.params.user);
      if (!user) throw new NotFoundError(`user ${req.params.user}`);
      await store.setMembership(org.id, user.id, req.body.role);
      await audit(store, p, {
        action: 'org.member.set',
        details: { org: org.name, user: user.name, role: req.body.role },
      });
      return { user: user.name, userId: user.id, role: req.body.role };
    },
  );

  app.delete<{ Params: Static<typeof MemberParams> }>(
    `${API}/orgs/:org/members/:user`,
    {
      schema: {
        operationId: 'removeMember',
        tags,
        summary: 'Remove a user from an org (org admins)',
        security: SECURED,
        params: MemberParams,
        response: responses({ 204: Type.Null() }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const org = await orgOf(p, req.params.org);
      requireOrgAdmin(p, org.id);
      const user = await store.getUser(req.params.user);
      if (!user) throw new NotFoundError(`user ${req.params.user}`);
      await store.setMembership(org.id, user.id, null);
      await audit(store, p, { action: 'org.member.remove', details: { org: org.name, user: user.name } });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Static<typeof OrgParams> }>(
    `${API}/orgs/:org/secrets`,
    {
      schema: {
        operationId: 'listSecrets',
        tags,
        summary: "An org's secret names (never their values)",
        security: SECURED,
        params: OrgParams,
        response: responses({ 200: Type.Object({ names: Type.Array(Type.String()) }) }, [
          ...AUTH_ERRORS,
          404,
        ]),
      },
    },
    async (req) => {
      const org = await orgOf(principalOf(req), req.params.org);
      return { names: await store.listSecretNames(org.id) };
    },
  );

  app.put<{ Params: Static<typeof SecretParams>; Body: Static<typeof SecretBody> }>(
    `${API}/orgs/:org/secrets/:name`,
    {
      schema: {
        operationId: 'putSecret',
        tags,
        summary: 'Set a secret of an org (org admins); stored encrypted',
        security: SECURED,
        params: SecretParams,
        body: SecretBody,
        response: responses({ 204: Type.Null() }, [...BODY_ERRORS, ...AUTH_ERRORS, 404]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const org = await orgOf(p, req.params.org);
      requireOrgAdmin(p, org.id);
      await store.putSecret(org.id, req.params.name, ctx.key.encrypt(req.body.value), ctx.now());
      await audit(store, p, {
        action: 'org.secret.set',
        details: { org: org.name, secret: req.params.name },
      });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: Static<typeof SecretParams> }>(
    `${API}/orgs/:org/secrets/:name`,
    {
      schema: {
        operationId: 'deleteSecret',
        tags,
        summary: 'Delete a secret of an org (org admins)',
        security: SECURED,
        params: SecretParams,
        response: responses({ 204: Type.Null() }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const org = await orgOf(p, req.params.org);
      requireOrgAdmin(p, org.id);
      if (!(await store.deleteSecret(org.id, req.params.name)))
        throw new NotFoundError(`secret ${req.params.name}`);
      await audit(store, p, {
        action: 'org.secret.delete',
        details: { org: org.name, secret: req.params.name },
      });
      return reply.code(204).send();
    },
  );

  app.post<{ Body: Static<typeof NewTokenBody> }>(
    `${API}/tokens`,
    {
      schema: {
        operationId: 'createToken',
        tags,
        summary: 'Make a token; it is shown this once and stored only as a hash',
        security: SECURED,
        body: NewTokenBody,
        response: responses({ 201: NewTokenResponse }, [...BODY_ERRORS, ...AUTH_ERRORS, 404]),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireFullScope(p);
      const b = req.body;
      const kind = b.kind ?? 'user';
      if ((kind === 'agent' || b.user !== undefined || b.actFor) && !p.serverAdmin) {
        throw new JobhubError(
          'forbidden',
          'only a server admin may make agent tokens, tokens for others, or tokens that act for others',
        );
      }
      let userId: string | null = null;
      if (kind === 'user') {
        const user =
          b.user === undefined
            ? p.userId
              ? await store.getUser(p.userId)
              : undefined
            : await store.getUser(b.user);
        if (!user) throw new NotFoundError(`user ${b.user ?? ''}`);
        userId = user.id;
      }
      let expiresAt: number | null = null;
      if (b.expiresIn !== undefined) {
        const ms = parseDuration(b.expiresIn);
        if (ms === undefined || ms <= 0)
          throw new JobhubError(
            'bad_request',
            `body.expiresIn "${b.expiresIn}" is not a duration (e.g. 720h)`,
            [{ path: 'body.expiresIn', message: 'not a duration' }],
          );
        expiresAt = ctx.now() + ms;
      }
      const token = newToken(kind);
      const record = await store.createToken({
        id: randomUUID(),
        kind,
        name: b.name,
        hash: hashToken(token),
        createdAt: ctx.now(),
        userId,
        scope: kind === 'agent' ? 'full' : (b.scope ?? 'full'),
        actFor: b.actFor === true,
        expiresAt,
      });
      await audit(store, p, {
        action: 'token.create',
        details: { token: record.id, name: record.name, kind, scope: record.scope },
      });
      return reply.code(201).send({ token, record: tokenView(record, await userName(userId)) });
    },
  );

  app.get<{ Querystring: { all?: boolean } }>(
    `${API}/tokens`,
    {
      schema: {
        operationId: 'listTokens',
        tags,
        summary: "The caller's tokens (with all=true, every token: server admins)",
        security: SECURED,
        querystring: Type.Object({ all: Type.Optional(Type.Boolean()) }),
        response: responses({ 200: Type.Object({ results: Type.Array(TokenView) }) }, [400, ...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      if (req.query.all && !p.serverAdmin)
        throw new JobhubError('forbidden', 'only a server admin may list every token');
      const tokens = req.query.all
        ? await store.listTokens()
        : p.userId
          ? await store.listTokens(p.userId)
          : [];
      const names = new Map((await store.listUsers()).map((u) => [u.id, u.name]));
      return {
        results: tokens.map((t) => tokenView(t, t.userId ? (names.get(t.userId) ?? t.userId) : null)),
      };
    },
  );

  app.delete<{ Params: Static<typeof TokenParams> }>(
    `${API}/tokens/:id`,
    {
      schema: {
        operationId: 'revokeToken',
        tags,
        summary: 'Revoke a token (its agent, if any, is disconnected)',
        security: SECURED,
        params: TokenParams,
        response: responses({ 200: TokenView }, [...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireFullScope(p);
      const t = await store.getToken(req.params.id);
      if (!t || (!p.serverAdmin && t.userId !== p.userId)) throw new NotFoundError(`token ${req.params.id}`);
      await store.revokeToken(t.id, ctx.now());
      await ctx.tokenRevoked(t.id);
      await audit(store, p, { action: 'token.revoke', details: { token: t.id, name: t.name, kind: t.kind } });
      const after = await store.getToken(t.id);
      return tokenView(after ?? t, await userName(t.userId));
    },
  );
}
