/**
 * Upload bodies, streamed: a raw body is one file; a `multipart/form-data` body has file parts
 * (each streamed into the blob store as it arrives, one after another) and text fields. Nothing is
 * buffered whole; a body cut off midway fails the upload and leaves no file.
 *
 * Also the file side of a submission (`POST /api/v1/jobs`): a multipart spec with its inputs, and
 * `hold=true`.
 */
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { JobhubError } from '../core/errors.js';
import type { FileService, StagedInput } from '../files/file-service.js';
import type { JobSpec } from '../spec/model.js';
import type { JobRecord } from '../store/store.js';
import { seesOwner } from './access.js';
import type { ApiContext } from './context.js';
import { principalOf, specTextOf } from './routes/common.js';

export function isMultipart(req: FastifyRequest): boolean {
  return /^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '');
}

/** The body's announced size, if any. */
export function contentLength(req: FastifyRequest): number | undefined {
  const v = req.headers['content-length'];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

export interface FilePart {
  field: string;
  filename: string;
  stream: Readable;
}

/** Part fields that carry no name of their own: the input is named after the part's filename. */
const GENERIC_FIELDS = new Set(['file', 'files', 'file[]', 'files[]', 'input', 'inputs', 'upload']);

/** The input name of a file part: its field name, or its filename for generic fields. */
export function partName(p: FilePart): string {
  return GENERIC_FIELDS.has(p.field) || p.field === '' ? p.filename : p.field;
}

export function filesOf(ctx: ApiContext): FileService {
  if (!ctx.files) throw new JobhubError('unsupported', 'this server keeps no files');
  return ctx.files;
}

/**
 * Reads a multipart body: `onFile` for each file part, in order (it must read the stream through);
 * returns the text fields. 400 for a malformed or cut-off body, 413 for a field over the limit.
 */
export function readMultipart(
  req: FastifyRequest,
  onFile: (part: FilePart) => Promise<void>,
  opts: { maxFieldBytes: number; maxFiles?: number },
): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { fieldSize: opts.maxFieldBytes, fields: 100, files: opts.maxFiles ?? 1000 },
      });
    } catch (err) {
      reject(new JobhubError('bad_request', `the multipart body is malformed: ${(err as Error).message}`));
      return;
    }
    const fields = new Map<string, string>();
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.raw.unpipe(bb);
      req.raw.resume();
      reject(err);
    };
    bb.on('file', (field, stream, info) => {
      chain = chain
        .then(() => {
          if (failed) {
            stream.resume();
            return;
          }
          return onFile({ field, filename: info.filename ?? '', stream });
        })
        .catch((err: unknown) => {
          stream.resume();
          fail(err);
        });
    });
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new JobhubError('too_large', `the field "${name}" is too large`));
      else fields.set(name, value);
    });
    bb.on('filesLimit', () => fail(new JobhubError('too_large', 'too many files in one request')));
    bb.on('fieldsLimit', () => fail(new JobhubError('too_large', 'too many fields in one request')));
    bb.on('error', (err: unknown) =>
      fail(
        new JobhubError(
          'bad_request',
          `the multipart body is malformed or cut off: ${(err as Error).message}`,
        ),
      ),
    );
    bb.on('close', () => {
      chain.then(
        () => {
          if (!failed) resolve(fields);
        },
        (err: unknown) => fail(err),
      );
    });
    req.raw.on('aborted', () => fail(new JobhubError('bad_request', 'the upload was cut off')));
    req.raw.pipe(bb);
  });
}

function bothSpecs(): JobhubError {
  return new JobhubError('bad_request', 'give a template or a spec in the body, not both', [
    { path: 'body', message: 'must be empty when submitting a template' },
  ]);
}

/** Whether a (non-multipart) request carries a body: the parsers give undefined for an empty one. */
function hasBody(req: FastifyRequest): boolean {
  if (typeof req.body === 'string') return req.body.trim() !== '';
  return req.body !== undefined && req.body !== null;
}

/** Reads a (small) stream as text, refusing more than `max` bytes. */
export async function streamText(stream: Readable, max: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > max) {
      stream.resume();
      throw new JobhubError('too_large', `${what} is too large`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Submissions

/** The file side of one submission. */
export interface Submission {
  /** The spec as sent. */
  text: string;
  /**
   * Checks what the spec needs of files (other jobs' files exist, the workspace exists, uploads it
   * names were sent, unless the job is held for them); says whether the job is created held, and
   * gives the spec to store (its workspace pinned to an id).
   */
  check(spec: JobSpec): Promise<{ held: boolean; spec: JobSpec }>;
  /** Attaches the uploaded inputs to the new job and releases it (unless `hold=true`). */
  done(job: JobRecord): Promise<JobRecord>;
}

/**
 * Reads a submission: a spec (YAML or JSON body), or a multipart body with a `spec` part and file
 * parts (the job's inputs). Inputs not attached to a job by the end of the request are let go.
 */
export async function readSubmission(
  req: FastifyRequest,
  reply: FastifyReply,
  ctx: ApiContext,
  opts: {
    hold: boolean;
    maxSpecBytes: number;
    /** The spec when it does not come in the body (a template's); the body then carries none. */
    spec?: string;
  },
): Promise<Submission> {
  const staged: StagedInput[] = [];
  let attached = false;
  reply.raw.once('close', () => {
    if (!attached && staged.length > 0) void ctx.files?.discard(staged);
  });
  let text: string;
  if (isMultipart(req)) {
    const files = filesOf(ctx);
    let used = 0;
    let specFile: string | undefined;
    const fields = await readMultipart(
      req,
      async (part) => {
        if (part.field === 'spec') {
          if (opts.spec !== undefined) throw bothSpecs();
          specFile = await streamText(part.stream, opts.maxSpecBytes, 'the spec');
          return;
        }
        const s = await files.stageInput(partName(part), part.stream, used);
        used += s.blob.size;
        staged.push(s);
      },
      { maxFieldBytes: opts.maxSpecBytes },
    );
    if (opts.spec !== undefined && fields.has('spec')) throw bothSpecs();
    const spec = opts.spec ?? fields.get('spec') ?? specFile;
    if (spec === undefined || spec.trim() === '') {
      throw new JobhubError('bad_request', 'body.spec is required: send the job spec as the "spec" part', [
        { path: 'body.spec', message: 'is required' },
      ]);
    }
    const names = staged.map((s) => s.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new JobhubError('bad_request', `the input "${dup}" is sent twice`);
    text = spec;
  } else if (opts.spec !== undefined) {
    if (hasBody(req)) throw bothSpecs();
    text = opts.spec;
  } else text = specTextOf(req);

  return {
    text,
    async check(spec) {
      const uses = (spec.inputs?.length ?? 0) > 0 || spec.workspace !== undefined;
      if (!ctx.files) {
        if (uses)
          throw new JobhubError(
            'unsupported',
            'this server keeps no files: the spec cannot use inputs or a workspace',
          );
        return { held: opts.hold, spec };
      }
      const named = (spec.inputs ?? []).flatMap((i) => (i.kind === 'upload' ? [i.name] : []));
      const sent = new Set(staged.map((s) => s.name));
      const missing = named.filter((n) => !sent.has(n));
      if (missing.length > 0 && !opts.hold) {
        throw new JobhubError(
          'bad_request',
          `the spec names inputs that were not sent: ${missing.join(', ')}; send them with the spec ` +
            '(multipart) or submit with hold=true, upload them, then release the job',
          { missing },
        );
      }
      const p = principalOf(req);
      const pinned = await ctx.files.checkSpec(spec, (owner) => seesOwner(p, owner));
      return { held: opts.hold || staged.length > 0, spec: pinned };
    },
    async done(job) {
      let out = job;
      if (staged.length > 0) {
        await filesOf(ctx).attachInputs(job.id, staged);
        attached = true;
      }
      if (!opts.hold && job.held) out = await ctx.coordinator.release(job.id);
      return out;
    },
  };
}
