/** Jobs: submit, list, read (status tree, spec, plan), stop, retry. */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../core/errors.js';
import { buildPlan } from '../../plan/planner.js';
import { loadSpec } from '../../spec/index.js';
import type { JobRecord } from '../../store/store.js';
import {
  AUTH_ERRORS,
  BODY_ERRORS,
  JobDetailView,
  JobIdParams,
  JobList,
  ListJobsQuery,
  PlanView,
  responses,
  SpecBody,
  SpecView,
  StopQuery,
  StopResponse,
  SubmitResponse,
} from '../api-schemas.js';
import { jobDetailView, jobSummary, pickFields } from '../job-view.js';
import {
  API,
  decodeCursor,
  encodeCursor,
  parseLabels,
  parseTime,
  type RouteDeps,
  SECURED,
  specTextOf,
  splitCommas,
} from './common.js';

const tags = ['jobs'];

export function jobRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  const getJob = async (id: number): Promise<JobRecord> => {
    const job = await ctx.store.getJob(id);
    if (!job) throw new NotFoundError(`job ${id}`);
    return job;
  };

  app.post(
    `${API}/jobs`,
    {
      schema: {
        operationId: 'submitJob',
        tags,
        summary: 'Submit a job spec (YAML or JSON) and start running it',
        security: SECURED,
        body: SpecBody,
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
      const text = specTextOf(req);
      const { spec } = loadSpec(text);
      const job = await ctx.coordinator.submit({ spec, rawSpec: text });
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
      const found = await ctx.store.listJobs({
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
      const job = await getJob(req.params.id);
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
      const job = await getJob(req.params.id);
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
      const who = req.principal?.name ?? 'unknown';
      await ctx.coordinator.requestStop(id, `requested by ${who} via the API`, {
        force: req.query.force === true,
      });
      const job = await getJob(id);
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
      const job = await ctx.coordinator.retry(req.params.id);
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
