/** Templates: push a spec as a new version, list, read a template's versions and one version's spec. */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../core/errors.js';
import { requireFullScope, seesOwner } from '../access.js';
import { AUTH_ERRORS, BODY_ERRORS, responses, SpecBody } from '../api-schemas.js';
import { audit } from '../audit.js';
import {
  PushTemplateQuery,
  PushTemplateResponse,
  TemplateList,
  TemplateNameParams,
  TemplateVersionParams,
  TemplateVersions,
  TemplateVersionView,
} from '../template-schemas.js';
import { findTemplate, pushTemplate, templateVersionView, templateView } from '../templates.js';
import { API, principalOf, type RouteDeps, SECURED, specTextOf } from './common.js';

const tags = ['templates'];

export function templateRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  app.post<{ Querystring: PushTemplateQuery }>(
    `${API}/templates`,
    {
      schema: {
        operationId: 'pushTemplate',
        tags,
        summary:
          'Push a job spec as a template: a new version when it differs from the newest one (201), else that one (200)',
        security: SECURED,
        querystring: PushTemplateQuery,
        body: SpecBody,
        response: responses(
          {
            200: { ...PushTemplateResponse, description: 'The newest version has the same content' },
            201: { ...PushTemplateResponse, description: 'A new version was made' },
          },
          [...BODY_ERRORS, ...AUTH_ERRORS, 409],
        ),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireFullScope(p);
      const { template, created } = await pushTemplate(ctx.store, p, specTextOf(req), {
        ...(req.query.name !== undefined ? { name: req.query.name } : {}),
        now: Date.now(),
      });
      await audit(ctx.store, p, {
        action: 'template.push',
        details: { name: template.name, version: template.version, created },
      });
      return reply
        .code(created ? 201 : 200)
        .header(
          'location',
          `${API}/templates/${encodeURIComponent(template.name)}/versions/${template.version}`,
        )
        .send({ created, template: templateView(template) });
    },
  );

  app.get(
    `${API}/templates`,
    {
      schema: {
        operationId: 'listTemplates',
        tags,
        summary: 'Templates the caller may see: the newest version of each, by name',
        security: SECURED,
        response: responses({ 200: TemplateList }, [...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      const all = await ctx.store.listTemplates();
      return {
        results: all
          .filter((t) => seesOwner(p, t.latest.owner))
          .map((t) => ({ ...templateView(t.latest), versions: t.versions })),
      };
    },
  );

  app.get<{ Params: TemplateNameParams }>(
    `${API}/templates/:name`,
    {
      schema: {
        operationId: 'getTemplate',
        tags,
        summary: "A template's versions, newest first",
        security: SECURED,
        params: TemplateNameParams,
        response: responses({ 200: TemplateVersions }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      const versions = await ctx.store.listTemplateVersions(req.params.name);
      const newest = versions[0];
      if (!newest || !seesOwner(p, newest.owner)) throw new NotFoundError(`template ${req.params.name}`);
      return { name: newest.name, versions: versions.map(templateView) };
    },
  );

  app.get<{ Params: TemplateVersionParams }>(
    `${API}/templates/:name/versions/:version`,
    {
      schema: {
        operationId: 'getTemplateVersion',
        tags,
        summary: 'One version of a template, with its spec',
        security: SECURED,
        params: TemplateVersionParams,
        response: responses({ 200: TemplateVersionView }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const t = await findTemplate(ctx.store, principalOf(req), `${req.params.name}@${req.params.version}`);
      return templateVersionView(t);
    },
  );
}
