/**
 * Seed 002's hooks: an external backend reports a job's status, progress and output, and fetches its
 * input files, with the job's hook token (`x-hook-token`, or `Authorization: Bearer`), given to it
 * with the job. A wrong token is refused (403) before anything is looked up; an unknown job is 404;
 * a job that does not run on a backend, or has ended, is 409. The lease holder's backend run reads
 * the reported status from the store at its next poll and ends the task with it.
 */
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { LogStream } from '../../agent/protocol.js';
import { backendIdOfNode } from '../../backends/backend.js';
import {
  HookAccepted,
  HookFileList,
  HookFileParams,
  HookJobParams,
  HookOutputBody,
  HookProgressBody,
  HookStatusBody,
} from '../../backends/config-schema.js';
import { HOOK_TOKEN_HEADER } from '../../backends/hook-tokens.js';
import { ConflictError, JobhubError, NotFoundError } from '../../core/errors.js';
import { isJobTerminal } from '../../engine/job-state.js';
import { isTaskActive } from '../../engine/task-state.js';
import type { BackendReport, BackendRunRecord, TaskRecord } from '../../store/store.js';
import { BODY_ERRORS, responses } from '../api-schemas.js';
import type { ApiContext } from '../context.js';
import { filesOf } from '../uploads.js';
import { API, type RouteDeps } from './common.js';

const tags = ['hooks'];
const HOOK_SECURED: Array<Record<string, string[]>> = [{ hookToken: [] }];
const HOOK_ERRORS = [401, 403, 404, 409] as const;

function tokenOf(req: FastifyRequest): string | undefined {
  const header = req.headers[HOOK_TOKEN_HEADER];
  const direct = Array.isArray(header) ? header[0] : header;
  if (direct) return direct;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/**
 * Before the body is read: the token must open this job's hooks, and a report must be JSON (a
 * multipart or text body never reaches the routes' validation).
 */
function gate(ctx: ApiContext): onRequestAsyncHookHandler {
  return async (req) => {
    checkToken(ctx, req as FastifyRequest<{ Params: { id: number } }>);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (req.method === 'POST' && type !== 'application/json') {
      throw new JobhubError(
        'unsupported_media_type',
        `a hook report is JSON: send content-type application/json, not "${type}"`,
      );
    }
  };
}

/** 401 without a token, 403 with one that does not open this job's hooks (params not yet validated). */
function checkToken(ctx: ApiContext, req: FastifyRequest<{ Params: { id: number } }>): void {
  if (!ctx.backends) throw new JobhubError('unavailable', 'external backends are not enabled on this server');
  const token = tokenOf(req);
  if (!token)
    throw new JobhubError('unauthorized', `the job's hook token is required, in ${HOOK_TOKEN_HEADER}`);
  const id = Number(req.params.id);
  if (!Number.isSafeInteger(id) || !ctx.backends.hookTokens.verify(id, token)) {
    throw new JobhubError('forbidden', `this token does not open the hooks of job ${String(req.params.id)}`);
  }
}

/** The job's backend task, once the token opens the job's hooks. */
async function hookTask(
  ctx: ApiContext,
  req: FastifyRequest<{ Params: { id: number } }>,
  needActive: boolean,
): Promise<TaskRecord> {
  checkToken(ctx, req);
  const id = req.params.id;
  const detail = await ctx.store.getJobDetail(id);
  if (!detail) throw new NotFoundError(`job ${id}`);
  const task = detail.tasks.find((t) => t.nodeId !== null && backendIdOfNode(t.nodeId) !== undefined);
  if (!task) throw new ConflictError(`job ${id} does not run on a backend`, { status: detail.job.status });
  if (needActive && (isJobTerminal(detail.job.status) || !isTaskActive(task.status))) {
    throw new ConflictError(`job ${id} is already ${detail.job.status}: reports are closed`, {
      status: detail.job.status,
    });
  }
  return task;
}

/** The backend run of the task's current attempt (a conflict before the job reached its backend). */
async function submittedRun(ctx: ApiContext, task: TaskRecord): Promise<BackendRunRecord> {
  const run = await ctx.store.getBackendRun(task.jobId, task.id, task.attempt);
  if (!run) throw new ConflictError(`job ${task.jobId} is not submitted to its backend yet`);
  return run;
}

/** Stores what the backend reported for the task's current attempt. */
async function saveReport(ctx: ApiContext, task: TaskRecord, report: BackendReport): Promise<void> {
  await ctx.store.updateBackendRun(task.jobId, task.id, task.attempt, { report }, ctx.now());
}

/** Stores lines reported for the task's current attempt (line numbers reserved in the store). */
async function appendLines(
  ctx: ApiContext,
  task: TaskRecord,
  texts: string[],
  stream: LogStream,
): Promise<number> {
  if (texts.length === 0) return 0;
  const last = await ctx.store.takeBackendLogSeqs(task.jobId, task.id, task.attempt, texts.length, ctx.now());
  if (last === undefined) throw new ConflictError(`job ${task.jobId} is not submitted to its backend yet`);
  const ts = ctx.now();
  const rows = texts.map((text, i) => ({
    jobId: task.jobId,
    taskId: task.id,
    attempt: task.attempt,
    seq: last - texts.length + 1 + i,
    ts,
    stream,
    text,
  }));
  await ctx.store.appendLogs(rows);
  ctx.bus.publish({ kind: 'logs', lines: rows });
  return rows.length;
}

export function backendHookRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  app.post<{ Params: HookJobParams; Body: HookStatusBody }>(
    `${API}/hooks/jobs/:id/status`,
    {
      onRequest: gate(ctx),
      schema: {
        operationId: 'hookReportStatus',
        tags,
        summary: "A backend reports a job's state (running, or how it ended), with the job's hook token",
        security: HOOK_SECURED,
        params: HookJobParams,
        body: HookStatusBody,
        response: responses({ 200: HookAccepted }, [...BODY_ERRORS, ...HOOK_ERRORS]),
      },
    },
    async (req): Promise<HookAccepted> => {
      const task = await hookTask(ctx, req, true);
      const { state, text, progress } = req.body;
      const run = await submittedRun(ctx, task);
      await saveReport(ctx, task, {
        state,
        text: text ?? null,
        progress: progress ?? run.report?.progress ?? null,
      });
      await appendLines(ctx, task, [`backend status: ${state}${text ? `: ${text}` : ''}`], 'system');
      return { jobId: task.jobId, accepted: 1 };
    },
  );

  app.post<{ Params: HookJobParams; Body: HookProgressBody }>(
    `${API}/hooks/jobs/:id/progress`,
    {
      onRequest: gate(ctx),
      schema: {
        operationId: 'hookReportProgress',
        tags,
        summary: "A backend reports a job's progress (percent, text), with the job's hook token",
        security: HOOK_SECURED,
        params: HookJobParams,
        body: HookProgressBody,
        response: responses({ 200: HookAccepted }, [...BODY_ERRORS, ...HOOK_ERRORS]),
      },
    },
    async (req): Promise<HookAccepted> => {
      const task = await hookTask(ctx, req, true);
      const { progress, text } = req.body;
      const run = await submittedRun(ctx, task);
      if (progress !== undefined) {
        const report = run.report ?? { state: 'running' as const, text: null, progress: null };
        await saveReport(ctx, task, { ...report, progress });
      }
      const line = `progress${progress !== undefined ? ` ${progress}%` : ''}${text ? `: ${text}` : ''}`;
      await appendLines(ctx, task, [line], 'system');
      return { jobId: task.jobId, accepted: 1 };
    },
  );

  app.post<{ Params: HookJobParams; Body: HookOutputBody }>(
    `${API}/hooks/jobs/:id/output`,
    {
      onRequest: gate(ctx),
      schema: {
        operationId: 'hookReportOutput',
        tags,
        summary: "A backend sends output lines of a job into its log, with the job's hook token",
        security: HOOK_SECURED,
        params: HookJobParams,
        body: HookOutputBody,
        response: responses({ 200: HookAccepted }, [...BODY_ERRORS, ...HOOK_ERRORS]),
      },
    },
    async (req): Promise<HookAccepted> => {
      const task = await hookTask(ctx, req, true);
      const lines = [...(req.body.lines ?? [])];
      if (req.body.text !== undefined && req.body.text !== '') {
        lines.push(...req.body.text.replace(/\r?\n$/, '').split(/\r?\n/));
      }
      const accepted = await appendLines(ctx, task, lines, req.body.stream ?? 'stdout');
      return { jobId: task.jobId, accepted };
    },
  );

  app.get<{ Params: HookJobParams }>(
    `${API}/hooks/jobs/:id/files`,
    {
      onRequest: gate(ctx),
      schema: {
        operationId: 'hookListFiles',
        tags,
        summary: "A backend lists a job's input files, with the job's hook token",
        security: HOOK_SECURED,
        params: HookJobParams,
        response: responses({ 200: HookFileList }, HOOK_ERRORS),
      },
    },
    async (req): Promise<HookFileList> => {
      const task = await hookTask(ctx, req, false);
      const base = `${req.protocol}://${req.host}${API}/hooks/jobs/${task.jobId}/files/`;
      const files = (await ctx.store.listFiles(task.jobId)).filter((f) => f.kind === 'input');
      return {
        results: files.map((f) => ({
          path: f.path,
          size: f.size,
          sha256: f.sha256,
          url: `${base}${f.path}`,
        })),
      };
    },
  );

  app.get<{ Params: HookFileParams }>(
    `${API}/hooks/jobs/:id/files/*`,
    {
      onRequest: gate(ctx),
      schema: {
        operationId: 'hookFetchFile',
        tags,
        summary: "A backend fetches one of a job's input files, with the job's hook token",
        security: HOOK_SECURED,
        params: HookFileParams,
        response: responses(
          {
            200: {
              description: 'The file',
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            },
          },
          [400, ...HOOK_ERRORS],
        ),
      },
    },
    async (req, reply) => {
      const task = await hookTask(ctx, req, false);
      const path = req.params['*'];
      const file = await ctx.store.getFile(task.jobId, path);
      if (file?.kind !== 'input') throw new NotFoundError(`input file ${path} of job ${task.jobId}`);
      const { stream } = await filesOf(ctx).open(task.jobId, path);
      return reply
        .type('application/octet-stream')
        .header('content-length', String(file.size))
        .header('x-sha256', file.sha256)
        .send(stream);
    },
  );
}
