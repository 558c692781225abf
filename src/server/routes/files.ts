/**
 * Files: a job's files (list as a list or a tree, download one, download a folder as tar.gz),
 * inputs uploaded while a job is held, the release of a held job, deleting a finished job with its
 * files, workspaces; and the agents' side (fetch inputs and the workspace, upload outputs), which
 * authenticates with the job's token (`x-job-token`) instead of an API token.
 *
 * Uploads are registered in their own plugin context, whose one body parser hands the raw request
 * stream to the handler: bodies are streamed into the blob store, never parsed or buffered.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { JobhubError, NotFoundError } from '../../core/errors.js';
import type { FileRecord, JobRecord, WorkspaceRecord } from '../../store/store.js';
import { authorizeJob, type JobAction, requireFullScope, seesOwner } from '../access.js';
import {
  ArchiveQuery,
  AUTH_ERRORS,
  BinaryBody,
  DeleteJobResponse,
  FileList,
  FileListQuery,
  FilePathParams,
  JOB_TOKEN_SECURED,
  JobIdParams,
  OutputQuery,
  OutputResponse,
  responses,
  StopResponse,
  UploadQuery,
  UploadResponse,
  WorkspaceList,
  WorkspaceQuery,
  WorkspaceResponse,
  type WorkspaceView,
} from '../api-schemas.js';
import { audit } from '../audit.js';
import { fileView, treeOf } from '../file-view.js';
import { JOB_TOKEN_HEADER } from '../job-tokens.js';
import { iso, jobSummary } from '../job-view.js';
import { resolveOwner } from '../submission.js';
import { contentLength, filesOf, isMultipart, partName, readMultipart } from '../uploads.js';
import { API, principalOf, type RouteDeps, SECURED } from './common.js';

const tags = ['files'];
const wsTags = ['workspaces'];

const STREAM_OK = (description: string, type: string) => ({
  description,
  content: { [type]: { schema: { type: 'string', format: 'binary' } } },
});

export function fileRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  /** The job, if the caller may do `action` on it (404 when it may not even see it). */
  const authorized = async (req: FastifyRequest, id: number, action: JobAction): Promise<JobRecord> => {
    const job = await ctx.store.getJob(id);
    if (!job) throw new NotFoundError(`job ${id}`);
    authorizeJob(principalOf(req), job, action);
    return job;
  };

  app.get<{ Params: JobIdParams; Querystring: FileListQuery }>(
    `${API}/jobs/:id/files`,
    {
      schema: {
        operationId: 'listJobFiles',
        tags,
        summary: "A job's files: inputs, outputs, kept working directories (as a list, or a tree)",
        security: SECURED,
        params: JobIdParams,
        querystring: FileListQuery,
        response: responses({ 200: FileList }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req): Promise<FileList> => {
      await authorized(req, req.params.id, 'read');
      const { detail, files } = await filesOf(ctx).list(req.params.id);
      const views = files.map((f) => fileView(f, detail));
      return req.query.tree === true ? { files: views, tree: treeOf(views) } : { files: views };
    },
  );

  app.get<{ Params: FilePathParams }>(
    `${API}/jobs/:id/files/*`,
    {
      schema: {
        operationId: 'downloadJobFile',
        tags,
        summary: "Download one of a job's files (streamed; header x-sha256 holds its checksum)",
        security: SECURED,
        params: FilePathParams,
        response: responses({ 200: STREAM_OK('The file', 'application/octet-stream') }, [
          400,
          ...AUTH_ERRORS,
          404,
        ]),
      },
    },
    async (req, reply) => {
      await authorized(req, req.params.id, 'read');
      const { file, stream } = await filesOf(ctx).open(req.params.id, req.params['*']);
      return sendFile(reply, file, stream);
    },
  );

  app.get<{ Params: JobIdParams; Querystring: ArchiveQuery }>(
    `${API}/jobs/:id/archive`,
    {
      schema: {
        operationId: 'downloadJobArchive',
        tags,
        summary: "Download a folder of a job's files (or all of them) as a tar.gz, streamed",
        security: SECURED,
        params: JobIdParams,
        querystring: ArchiveQuery,
        response: responses({ 200: STREAM_OK('The folder, as tar.gz', 'application/gzip') }, [
          400,
          ...AUTH_ERRORS,
          404,
        ]),
      },
    },
    async (req, reply) => {
      await authorized(req, req.params.id, 'read');
      const { name, stream } = await filesOf(ctx).archive(req.params.id, req.query.path ?? '');
      return reply
        .type('application/gzip')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(stream);
    },
  );

  app.post<{ Params: JobIdParams }>(
    `${API}/jobs/:id/release`,
    {
      schema: {
        operationId: 'releaseJob',
        tags: ['jobs'],
        summary: 'Release a held job (submitted with hold=true): it is placed and runs',
        security: SECURED,
        params: JobIdParams,
        response: responses({ 202: { ...StopResponse, description: 'The job was released' } }, [
          400,
          ...AUTH_ERRORS,
          404,
          409,
        ]),
      },
    },
    async (req, reply) => {
      await authorized(req, req.params.id, 'submit');
      const job = await ctx.coordinator.release(req.params.id);
      await audit(ctx.store, principalOf(req), { action: 'job.release', jobId: req.params.id });
      return reply.code(202).send({ job: jobSummary(job) });
    },
  );

  app.delete<{ Params: JobIdParams }>(
    `${API}/jobs/:id`,
    {
      schema: {
        operationId: 'deleteJob',
        tags: ['jobs'],
        summary: 'Delete a finished job with its logs and files (409 while it has not ended)',
        security: SECURED,
        params: JobIdParams,
        response: responses({ 200: DeleteJobResponse }, [400, ...AUTH_ERRORS, 404, 409]),
      },
    },
    async (req) => {
      await authorized(req, req.params.id, 'stop');
      const { files } = await filesOf(ctx).deleteJob(req.params.id);
      await audit(ctx.store, principalOf(req), {
        action: 'job.delete',
        jobId: req.params.id,
        details: { files },
      });
      return { id: req.params.id, deleted: true as const, files };
    },
  );

  app.get(
    `${API}/workspaces`,
    {
      schema: {
        operationId: 'listWorkspaces',
        tags: wsTags,
        summary: 'Workspaces: archives that jobs run fresh copies of, newest first',
        security: SECURED,
        response: responses({ 200: WorkspaceList }, [...AUTH_ERRORS]),
      },
    },
    async (req) => {
      const p = principalOf(req);
      const all = await filesOf(ctx).listWorkspaces();
      return { results: all.filter((w) => seesOwner(p, w.owner)).map(workspaceView) };
    },
  );

  // -------------------------------------------------------------------------------------------
  // The agents' side: the job's token, not an API token.

  const jobToken = (req: FastifyRequest<{ Params: { id: number } }>) => {
    const header = req.headers[JOB_TOKEN_HEADER];
    const token = Array.isArray(header) ? header[0] : header;
    if (!token) throw new JobhubError('unauthorized', `the job's token is required, in ${JOB_TOKEN_HEADER}`);
    if (!ctx.jobTokens?.verify(req.params.id, token)) {
      throw new JobhubError('forbidden', `this token does not open the files of job ${req.params.id}`);
    }
  };

  app.get<{ Params: FilePathParams }>(
    `${API}/agent/jobs/:id/files/*`,
    {
      schema: {
        operationId: 'agentFetchFile',
        tags: ['agents'],
        summary: "An agent fetches one of a job's files (an input), with the job's token",
        security: JOB_TOKEN_SECURED,
        params: FilePathParams,
        response: responses({ 200: STREAM_OK('The file', 'application/octet-stream') }, [
          400,
          ...AUTH_ERRORS,
          404,
        ]),
      },
    },
    async (req, reply) => {
      jobToken(req);
      const { file, stream } = await filesOf(ctx).open(req.params.id, req.params['*']);
      return sendFile(reply, file, stream);
    },
  );

  app.get<{ Params: JobIdParams }>(
    `${API}/agent/jobs/:id/workspace`,
    {
      schema: {
        operationId: 'agentFetchWorkspace',
        tags: ['agents'],
        summary: "An agent fetches the workspace archive a job runs from, with the job's token",
        security: JOB_TOKEN_SECURED,
        params: JobIdParams,
        response: responses({ 200: STREAM_OK('The archive', 'application/octet-stream') }, [
          400,
          ...AUTH_ERRORS,
          404,
        ]),
      },
    },
    async (req, reply) => {
      jobToken(req);
      const { file, stream } = await filesOf(ctx).openJobWorkspace(req.params.id);
      return sendFile(reply, file, stream);
    },
  );

  // Uploads: their own context, whose one body parser hands the raw stream over.
  app.register(async (up) => {
    up.removeAllContentTypeParsers();
    up.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    up.addHook('onRequest', async (_req, reply) => closeAfter(reply));

    up.post<{ Params: JobIdParams; Querystring: UploadQuery }>(
      `${API}/jobs/:id/files`,
      {
        schema: {
          operationId: 'uploadJobInput',
          tags,
          summary:
            'Upload an input of a held job: a raw body with ?name=, or multipart parts (named by field, or by filename for a "file" field)',
          security: SECURED,
          params: JobIdParams,
          querystring: UploadQuery,
          body: BinaryBody,
          response: responses({ 201: UploadResponse }, [400, ...AUTH_ERRORS, 404, 409, 413]),
        },
      },
      async (req, reply) => {
        const id = req.params.id;
        await authorized(req, id, 'submit');
        const files = filesOf(ctx);
        const stored: FileRecord[] = [];
        if (isMultipart(req)) {
          await readMultipart(
            req,
            async (part) => {
              stored.push(await files.addInput(id, partName(part), part.stream));
            },
            { maxFieldBytes: 64 * 1024 },
          );
        } else {
          const name = req.query.name;
          if (!name)
            throw new JobhubError('bad_request', 'query.name is required for a raw upload', [
              { path: 'query.name', message: 'is required' },
            ]);
          const size = contentLength(req);
          stored.push(await files.addInput(id, name, req.raw, size !== undefined ? { size } : {}));
        }
        if (stored.length === 0) throw new JobhubError('bad_request', 'the body holds no file');
        const detail = await ctx.store.getJobDetail(id);
        return reply.code(201).send({ files: stored.map((f) => fileView(f, detail)) });
      },
    );

    up.post<{ Querystring: WorkspaceQuery }>(
      `${API}/workspaces`,
      {
        schema: {
          operationId: 'pushWorkspace',
          tags: wsTags,
          summary: 'Push an archive (tar.gz, tar or zip) as a workspace: checked entry by entry, stored once',
          security: SECURED,
          querystring: WorkspaceQuery,
          body: BinaryBody,
          response: responses({ 201: WorkspaceResponse }, [400, ...AUTH_ERRORS, 413]),
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        requireFullScope(p);
        const wanted = req.query.owner;
        const owner = await resolveOwner(
          ctx.store,
          p,
          wanted !== undefined ? { id: '', name: wanted, type: 'org' } : undefined,
        );
        const files = filesOf(ctx);
        let pushed: WorkspaceView | undefined;
        if (isMultipart(req)) {
          await readMultipart(
            req,
            async (part) => {
              if (pushed) {
                part.stream.resume();
                throw new JobhubError('bad_request', 'send one archive per workspace');
              }
              pushed = workspaceView(await files.pushWorkspace(req.query.name, owner, part.stream));
            },
            { maxFieldBytes: 64 * 1024 },
          );
        } else {
          const size = contentLength(req);
          pushed = workspaceView(
            await files.pushWorkspace(req.query.name, owner, req.raw, size !== undefined ? { size } : {}),
          );
        }
        if (!pushed) throw new JobhubError('bad_request', 'the body holds no archive');
        await audit(ctx.store, principalOf(req), {
          action: 'workspace.push',
          details: { id: pushed.id, name: pushed.name },
        });
        return reply.code(201).send({ id: pushed.id, workspace: pushed });
      },
    );

    up.post<{ Params: JobIdParams; Querystring: OutputQuery }>(
      `${API}/agent/jobs/:id/outputs`,
      {
        schema: {
          operationId: 'agentUploadOutput',
          tags: ['agents'],
          summary: "An agent uploads a file a task left (raw body, streamed), with the job's token",
          security: JOB_TOKEN_SECURED,
          params: JobIdParams,
          querystring: OutputQuery,
          body: BinaryBody,
          response: responses({ 201: OutputResponse }, [400, ...AUTH_ERRORS, 404, 409, 413]),
        },
      },
      async (req, reply) => {
        jobToken(req);
        const size = contentLength(req);
        const file = await filesOf(ctx).addOutput(
          req.params.id,
          { taskId: req.query.task, kind: req.query.kind, path: req.query.path },
          req.raw,
          size !== undefined ? { size } : {},
        );
        const detail = await ctx.store.getJobDetail(req.params.id);
        return reply.code(201).send({ file: fileView(file, detail) });
      },
    );
  });
}

/** An upload answered before its body was all read (refused): close the connection, do not read on. */
function closeAfter(reply: FastifyReply): void {
  reply.raw.once('finish', () => {
    const req = reply.request.raw;
    if (!req.complete) req.socket?.destroySoon();
  });
}

function sendFile(reply: FastifyReply, file: FileRecord, stream: NodeJS.ReadableStream) {
  const base = file.path.split('/').pop() ?? 'file';
  return reply
    .type('application/octet-stream')
    .header('content-length', String(file.size))
    .header('x-sha256', file.sha256)
    .header('content-disposition', `attachment; filename="${base.replace(/["\\\r\n]/g, '_')}"`)
    .send(stream);
}

function workspaceView(w: WorkspaceRecord): WorkspaceView {
  return {
    id: w.id,
    name: w.name,
    sha256: w.sha256,
    size: w.size,
    format: w.format as WorkspaceView['format'],
    owner: w.owner,
    createdAt: iso(w.createdAt),
  };
}
