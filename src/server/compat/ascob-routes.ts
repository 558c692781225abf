/**
 * The ASCOB runs API (seed 002) at ASCOB's own paths, so that a portal scripted against ASCOB works
 * against jobhub unchanged. A run is a jobhub job (the run id is the job id): submitted, stopped,
 * resubmitted, released and read through jobhub's own coordinator, store and access rules.
 *
 * As ASCOB says: 401 without a token, 403 with a wrong one (unknown, revoked, expired; route config
 * `wrongTokenForbidden`, read by the auth hook). Another org's run is 404, as in jobhub's own API.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFoundError } from '../../core/errors.js';
import type { JobRecord } from '../../store/store.js';
import { authorizeJob, type JobAction, visibleOwners } from '../access.js';
import { AUTH_ERRORS, BinaryBody, BODY_ERRORS, responses } from '../api-schemas.js';
import { actorOf, audit } from '../audit.js';
import { badRequest, principalOf, type RouteDeps, SECURED } from '../routes/common.js';
import { contentLength, filesOf, isMultipart, readMultipart } from '../uploads.js';
import {
  OutputText,
  ResubmitQuery,
  RunFileParams,
  RunIdParams,
  RunInfoSchema,
  SearchRunsBody,
  SearchRunsResponse,
  StopRunQuery,
  SubmitRunBody,
  SubmitRunResponse,
  UploadedRunFile,
} from './ascob-schemas.js';
import { ascobJob } from './ascob-spec.js';
import { type AscobStatus, ascobStatus, jobStatusesOf, parseAscobTime, runInfo } from './ascob-view.js';
import { scanJobs } from './job-scan.js';
import { submitCompat, submitterFor } from './submit.js';

const tags = ['ascob'];
/** ASCOB authenticates by X-Api-Token; jobhub's Bearer form works too. */
const security = SECURED;
const config = { wrongTokenForbidden: true };
/** ASCOB's default and jobhub's upper bound of search results. */
const SEARCH_DEFAULT = 20;
const SEARCH_MAX = 1000;
/** The log streams that make a run's output. */
const OUTPUT_STREAMS: ReadonlySet<string> = new Set(['stdout', 'stderr']);
/** Log lines read from the store per round while writing output.txt. */
const LOG_PAGE = 5000;

export function ascobRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  /** The run, if the caller may do `action` on it (404 when it may not even see it). */
  const authorized = async (req: FastifyRequest, id: number, action: JobAction): Promise<JobRecord> => {
    const job = await ctx.store.getJob(id);
    if (!job) throw new NotFoundError(`run ${id}`);
    authorizeJob(principalOf(req), job, action);
    return job;
  };
  const fresh = async (id: number): Promise<JobRecord> => {
    const job = await ctx.store.getJob(id);
    if (!job) throw new NotFoundError(`run ${id}`);
    return job;
  };

  app.post<{ Body: SubmitRunBody }>(
    '/api/runs',
    {
      config,
      schema: {
        operationId: 'ascobSubmitRun',
        tags,
        summary: 'Submit a run (ASCOB): a jobhub job from jobSpec (a full jobhub spec under jobSpec.jobhub)',
        security,
        body: SubmitRunBody,
        response: responses({ 200: SubmitRunResponse }, [...BODY_ERRORS, ...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const js = req.body.jobSpec;
      const { text, params } = ascobJob(js);
      const job = await submitCompat(ctx, req, {
        text,
        params,
        hold: js.manualStart === true,
        submitter: js.submitter,
        via: 'ascob',
      });
      return { runId: job.id };
    },
  );

  app.get<{ Params: RunIdParams }>(
    '/api/runs/:id',
    {
      config,
      schema: {
        operationId: 'ascobGetRun',
        tags,
        summary: 'A run (ASCOB RunInfo): its status word and times',
        security,
        params: RunIdParams,
        response: responses({ 200: RunInfoSchema }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => runInfo(ctx.store, await authorized(req, req.params.id, 'read')),
  );

  app.delete<{ Params: RunIdParams; Querystring: StopRunQuery }>(
    '/api/runs/:id',
    {
      config,
      schema: {
        operationId: 'ascobStopRun',
        tags,
        summary: 'Stop a run (ASCOB): ABORTING, then ABORTED once its tasks have stopped',
        security,
        params: RunIdParams,
        querystring: StopRunQuery,
        response: responses({ 200: RunInfoSchema }, [400, ...AUTH_ERRORS, 404, 409]),
      },
    },
    async (req) => {
      const id = req.params.id;
      const p = principalOf(req);
      await authorized(req, id, 'stop');
      const force = req.query.force === true;
      await ctx.coordinator.requestStop(id, `requested by ${actorOf(p)} via the ASCOB API`, { force });
      await audit(ctx.store, p, { action: 'job.stop', jobId: id, details: { force, via: 'ascob' } });
      return runInfo(ctx.store, await fresh(id));
    },
  );

  app.get<{ Params: RunIdParams; Querystring: ResubmitQuery }>(
    '/api/runs/:id/resubmit',
    {
      config,
      schema: {
        operationId: 'ascobResubmitRun',
        tags,
        summary: "Resubmit a run (ASCOB): a new run of the same spec, whose parentId is this run's id",
        security,
        params: RunIdParams,
        querystring: ResubmitQuery,
        response: responses({ 200: SubmitRunResponse }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      await authorized(req, req.params.id, 'retry');
      const job = await ctx.coordinator.retry(req.params.id, submitterFor(req, p, req.query.submitter));
      await audit(ctx.store, p, {
        action: 'job.retry',
        jobId: job.id,
        details: { retryOf: req.params.id, via: 'ascob' },
      });
      ctx.metrics.jobsSubmitted.inc();
      return { runId: job.id };
    },
  );

  app.get<{ Params: RunIdParams }>(
    '/api/runs/:id/start',
    {
      config,
      schema: {
        operationId: 'ascobStartRun',
        tags,
        summary: 'Start a manualStart run (ASCOB): the held job is released (409 when it is not held)',
        security,
        params: RunIdParams,
        response: responses({ 200: RunInfoSchema }, [400, ...AUTH_ERRORS, 404, 409]),
      },
    },
    async (req) => {
      await authorized(req, req.params.id, 'submit');
      const job = await ctx.coordinator.release(req.params.id);
      await audit(ctx.store, principalOf(req), {
        action: 'job.release',
        jobId: req.params.id,
        details: { via: 'ascob' },
      });
      return runInfo(ctx.store, job);
    },
  );

  app.get<{ Params: RunIdParams }>(
    '/api/runs/:id/output.txt',
    {
      config,
      schema: {
        operationId: 'ascobRunOutput',
        tags,
        summary: "A run's output (ASCOB): the log lines of its tasks, in order, as text",
        security,
        params: RunIdParams,
        response: responses(
          { 200: { description: 'The output', content: { 'text/plain': { schema: OutputText } } } },
          [400, ...AUTH_ERRORS, 404],
        ),
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      await authorized(req, id, 'read');
      const store = ctx.store;
      async function* lines() {
        let after = 0;
        for (;;) {
          const page = await store.readLogs({ jobId: id, afterId: after, limit: LOG_PAGE });
          // What the tasks wrote; jobhub's own notes (system, probe lines) are not the run's output.
          const text = page.filter((l) => OUTPUT_STREAMS.has(l.stream)).map((l) => `${l.text}\n`);
          if (text.length > 0) yield text.join('');
          const last = page[page.length - 1];
          if (page.length < LOG_PAGE || !last) return;
          after = last.id;
        }
      }
      return reply.type('text/plain; charset=utf-8').send(Readable.from(lines()));
    },
  );

  app.post<{ Body: SearchRunsBody }>(
    '/api/search/runs',
    {
      config,
      schema: {
        operationId: 'ascobSearchRuns',
        tags,
        summary: 'Search runs (ASCOB): by submitter, status, creation time; newest first, 20 by default',
        security,
        body: SearchRunsBody,
        response: responses({ 200: SearchRunsResponse }, [...BODY_ERRORS, ...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const b = req.body;
      const given = b.statusFilter ?? b.status;
      const words: AscobStatus[] | undefined =
        given === undefined ? undefined : Array.isArray(given) ? given : [given];
      const submitter = b.submitterFilter ?? b.submitter;
      const before = timeFilter(b.createdBeforeFilter ?? b.createdBefore, 'createdBeforeFilter');
      const after = timeFilter(b.createdAfterFilter ?? b.createdAfter, 'createdAfterFilter');
      const asked = b.maxResults ?? b.limit ?? 0;
      const max = asked === 0 ? SEARCH_DEFAULT : Math.min(asked, SEARCH_MAX);
      const visible = visibleOwners(principalOf(req));
      const { jobs } = await scanJobs(
        ctx.store,
        {
          ...(visible ? { ownerIds: visible } : {}),
          ...(submitter !== undefined ? { submitter } : {}),
          ...(words && words.length > 0 ? { status: jobStatusesOf(words) } : {}),
          ...(before !== undefined ? { createdBefore: before } : {}),
          ...(after !== undefined ? { createdAfter: after } : {}),
        },
        (job) => !words || words.length === 0 || words.includes(ascobStatus(job)),
        0,
        max,
      );
      const items = [];
      for (const job of jobs) items.push(await runInfo(ctx.store, job));
      return { items };
    },
  );

  // Uploads: their own context, whose one body parser hands the raw stream over (ASCOB reads the
  // request body as the file).
  app.register(async (up) => {
    up.removeAllContentTypeParsers();
    up.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    up.post<{ Params: RunFileParams }>(
      '/api/runs/:id/files/:fileId',
      {
        config,
        schema: {
          operationId: 'ascobUploadRunFile',
          tags,
          summary:
            'Upload an input file of a run before it starts (ASCOB; a manualStart run): the raw body, or one multipart file',
          security,
          params: RunFileParams,
          body: BinaryBody,
          response: responses({ 200: UploadedRunFile }, [400, ...AUTH_ERRORS, 404, 409, 413]),
        },
      },
      async (req) => {
        const { id, fileId } = req.params;
        await authorized(req, id, 'submit');
        const files = filesOf(ctx);
        let stored: { size: number; sha256: string } | undefined;
        if (isMultipart(req)) {
          await readMultipart(
            req,
            async (part) => {
              if (stored) part.stream.resume();
              else stored = await files.addInput(id, fileId, part.stream);
            },
            { maxFieldBytes: 64 * 1024, maxFiles: 1 },
          );
        } else {
          const size = contentLength(req);
          stored = await files.addInput(id, fileId, req.raw, size !== undefined ? { size } : {});
        }
        if (!stored) throw badRequest('body', 'holds no file');
        return { runId: id, fileId: files.inputName(fileId), size: stored.size, sha256: stored.sha256 };
      },
    );
  });
}

function timeFilter(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseAscobTime(text);
  if (ms === undefined)
    throw badRequest(`body.${name}`, "must be ASCOB's yyyy-MM-ddTHH:mm:ss.SSS, ISO 8601 or epoch ms");
  return ms;
}
