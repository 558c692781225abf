/** Jobs: submit, list, read (status tree, spec, plan), stop, retry. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JobhubError, NotFoundError } from '../../core/errors.js';
import { buildPlan } from '../../plan/planner.js';
import { parseParamArgs } from '../../spec/params.js';
import type { JobRecord } from '../../store/store.js';
import { authorizeJob, type JobAction, visibleOwners } from '../access.js';
import {
  AUTH_ERRORS,
  BODY_ERRORS,
  JobDetailView,
  JobIdParams,
  JobList,
  ListJobsQuery,
  PlanView,
  responses,
  SpecView,
  StopQuery,
  StopResponse,
  SubmitBody,
  SubmitQuery,
  SubmitResponse,
} from '../api-schemas.js';
import { actorOf, audit } from '../audit.js';
import { jobDetailView, jobSummary, pickFields } from '../job-view.js';
import { checkSecrets, resolveOwner, specToRun, submitterOf } from '../submission.js';
import { findTemplate } from '../templates.js';
import { readSubmission } from '../uploads.js';
import { templateResolver } from '../workflows.js';
import {
  API,
  decodeCursor,
  encodeCursor,
  parseLabels,
  parseTime,
  principalOf,
  type RouteDeps,
  SECURED,
  splitCommas,
} from './common.js';

const tags = ['jobs'];

export function jobRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  /** The job, if the caller may do `action` on it (404 when it may not even see it). */
  const getJob = async (req: FastifyRequest, id: number, action: JobAction = 'read'): Promise<JobRecord> => {
    const job = await ctx.store.getJob(id);
    if (!job) throw new NotFoundError(`job ${id}`);
    authorizeJob(principalOf(req), job, action);
    return job;
  };

  app.post<{ Querystring: SubmitQuery }>(
    `${API}/jobs`,
    {
      schema: {
        operationId: 'submitJob',
        tags,
        summary:
          'Submit a job spec (YAML or JSON; or multipart: a spec part and its input files) and start running it',
        security: SECURED,
        querystring: SubmitQuery,
        body: SubmitBody,
        response: responses(
          {
            201: {
              ...SubmitResponse,
              description: 'The job was created',
              headers: { location: { type: 'string', description: 'URL of the new job' } },
            },
          },
          [...BODY_ERRORS, ...AUTH_ERRORS],
        ),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      if (p.scope === 'read')
        throw new JobhubError('forbidden', "this token's scope (read) does not allow submitting");
      // A stored template's spec (`?template=name@3`), or the one in the body.
      const template =
        req.query.template !== undefined ? await findTemplate(ctx.store, p, req.query.template) : undefined;
      // (files) The spec, with the inputs sent along (multipart); hold=true keeps the job for uploads.
      const sub = await readSubmission(req, reply, ctx, {
        hold: req.query.hold === true,
        maxSpecBytes: 10 << 20,
        ...(template ? { spec: template.rawSpec } : {}),
      });
      const text = sub.text;
      // Workflows (seed 004): `use` stages become the stages of the templates they name.
      const { spec, params } = await specToRun(
        text,
        parseParamArgs(req.query.param),
        templateResolver(ctx.store, p),
        template ? { template: template.name } : {},
      );
      const owner = await resolveOwner(ctx.store, p, spec.owner);
      const submitter = submitterOf(req, p);
      await checkSecrets(ctx.store, spec, owner);
      const checked = await sub.check(spec);
      const created = await ctx.coordinator.submit({
        spec: checked.spec,
        rawSpec: text,
        owner,
        submitter,
        held: checked.held,
        params,
        template: template ? { name: template.name, version: template.version } : null,
      });
      const job = await sub.done(created);
      await audit(ctx.store, p, {
        action: 'job.submit',
        jobId: job.id,
        details: {
          owner: owner.name,
          submitter,
          ...(template ? { template: `${template.name}@${template.version}` } : {}),
          ...(spec.uses ? { uses: spec.uses.map((u) => `${u.stage}: ${u.template}@${u.version}`) } : {}),
        },
      });
      ctx.metrics.jobsSubmitted.inc();
      return reply
        .code(201)
        .header('location', `${API}/jobs/${job.id}`)
        .send({ id: job.id, job: jobSummary(job) });
    },
  );

  app.get<{ Querystring: ListJobsQuery }>(
    `${API}/jobs`,
    {
      preValidation: splitCommas(['status', 'fields']),
      schema: {
        operationId: 'listJobs',
        tags,
        summary: 'List jobs, newest first, with filters and paging',
        security: SECURED,
        querystring: ListJobsQuery,
        response: responses({ 200: JobList }, [400, ...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const beforeId = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      const start = beforeId === undefined ? (q.start ?? 1) : 1;
      const labels = parseLabels(q.label);
      const createdAfter = parseTime(q.createdAfter, 'query.createdAfter');
      const createdBefore = parseTime(q.createdBefore, 'query.createdBefore');
      const visible = visibleOwners(principalOf(req));
      const found = await ctx.store.listJobs({
        ...(visible ? { ownerIds: visible } : {}),
        ...(q.submitter !== undefined ? { submitter: q.submitter } : {}),
        ...(q.template !== undefined ? { template: q.template } : {}),
        ...(q.status && q.status.length > 0 ? { status: q.status } : {}),
        ...(q.name !== undefined ? { name: q.name } : {}),
        ...(q.owner !== undefined ? { owner: q.owner } : {}),
        ...(labels ? { labels } : {}),
        ...(createdAfter !== undefined ? { createdAfter } : {}),
        ...(createdBefore !== undefined ? { createdBefore } : {}),
        ...(beforeId !== undefined ? { beforeId } : {}),
        start,
        limit: limit + 1, // one more tells whether there is a next page
      });
      const page = found.slice(0, limit);
      const more = found.length > limit;
      const last = page[page.length - 1];
      const cursor = more && last ? encodeCursor(last.id) : null;
      const fields = q.fields && q.fields.length > 0 ? q.fields : undefined;
      const link = (param: 'start' | 'cursor', value: string) => pageUrl(req.url, limit, param, value);
      return {
        results: page.map((j) => pickFields(jobSummary(j), fields)),
        next: !more
          ? null
          : cursor && beforeId !== undefined
            ? link('cursor', cursor)
            : link('start', String(start + limit)),
        previous:
          beforeId === undefined && start > 1 ? link('start', String(Math.max(1, start - limit))) : null,
        cursor,
      };
    },
  );

  app.get<{ Params: JobIdParams }>(
    `${API}/jobs/:id`,
    {
      schema: {
        operationId: 'getJob',
        tags,
        summary: 'A job and its status tree: stages, nodes, tasks',
        security: SECURED,
        params: JobIdParams,
        response: responses({ 200: JobDetailView }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const detail = await ctx.store.getJobDetail(req.params.id);
      if (!detail) throw new NotFoundError(`job ${req.params.id}`);
      authorizeJob(principalOf(req), detail.job, 'read');
      return jobDetailView(detail);
    },
  );

  app.get<{ Params: JobIdParams }>(
    `${API}/jobs/:id/spec`,
    {
      schema: {
        operationId: 'getJobSpec',
        tags,
        summary: "A job's spec: as submitted and normalized",
        security: SECURED,
        params: JobIdParams,
        response: responses({ 200: SpecView }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const job = await getJob(req, req.params.id);
      return { raw: job.rawSpec, spec: job.spec };
    },
  );

  app.get<{ Params: JobIdParams }>(
    `${API}/jobs/:id/plan`,
    {
      schema: {
        operationId: 'getJobPlan',
        tags,
        summary: "A job's execution plan, with the nodes it was placed on",
        security: SECURED,
        params: JobIdParams,
        response: responses({ 200: PlanView }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const job = await getJob(req, req.params.id);
      return buildPlan(job.spec, job.placement);
    },
  );

  app.post<{ Params: JobIdParams; Querystring: StopQuery }>(
    `${API}/jobs/:id/stop`,
    {
      schema: {
        operationId: 'stopJob',
        tags,
        summary: 'Stop a job: queued tasks are skipped, running ones get SIGTERM, then SIGKILL',
        security: SECURED,
        params: JobIdParams,
        querystring: StopQuery,
        response: responses({ 202: { ...StopResponse, description: 'The stop was requested' } }, [
          400,
          ...AUTH_ERRORS,
          404,
          409,
        ]),
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const p = principalOf(req);
      await getJob(req, id, 'stop');
      await ctx.coordinator.requestStop(id, `requested by ${actorOf(p)} via the API`, {
        force: req.query.force === true,
      });
      await audit(ctx.store, p, {
        action: 'job.stop',
        jobId: id,
        details: { force: req.query.force === true },
      });
      const job = await getJob(req, id);
      return reply.code(202).send({ job: jobSummary(job) });
    },
  );

  app.post<{ Params: JobIdParams }>(
    `${API}/jobs/:id/retry`,
    {
      schema: {
        operationId: 'retryJob',
        tags,
        summary: "Submit a job's spec again, as a new job linked by retryOf",
        security: SECURED,
        params: JobIdParams,
        response: responses(
          {
            201: {
              ...SubmitResponse,
              description: 'The new job was created',
              headers: { location: { type: 'string', description: 'URL of the new job' } },
            },
          },
          [400, ...AUTH_ERRORS, 404],
        ),
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      await getJob(req, req.params.id, 'retry');
      const job = await ctx.coordinator.retry(req.params.id, submitterOf(req, p));
      await audit(ctx.store, p, { action: 'job.retry', jobId: job.id, details: { retryOf: req.params.id } });
      ctx.metrics.jobsSubmitted.inc();
      return reply
        .code(201)
        .header('location', `${API}/jobs/${job.id}`)
        .send({ id: job.id, job: jobSummary(job) });
    },
  );
}

/**
 * A link to another page of the job list (seed 003's `next`/`previous`): `limit`, then `start` or
 * `cursor`, then the request's other parameters as given.
 */
function pageUrl(requestUrl: string, limit: number, param: 'start' | 'cursor', value: string): string {
  const q = requestUrl.indexOf('?');
  const given = new URLSearchParams(q < 0 ? '' : requestUrl.slice(q + 1));
  const out = new URLSearchParams([
    ['limit', String(limit)],
    [param, value],
  ]);
  for (const [k, v] of given) if (k !== 'limit' && k !== 'start' && k !== 'cursor') out.append(k, v);
  return `${API}/jobs?${out.toString()}`;
}
