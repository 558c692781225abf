/**
 * Typed errors. Every error a user can cause has a code; `httpStatusOf` and `exitCodeOf` are the one
 * place that maps codes to HTTP statuses and CLI exit codes.
 */

export type ErrorCode =
  | 'spec_invalid'
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'unsupported_media_type'
  | 'unsupported'
  | 'placement_failed'
  | 'unavailable'
  | 'store_error'
  | 'insufficient_storage'
  | 'internal';

export interface ErrorDetail {
  /** Path in the input, e.g. `stages[2].tasks[0].shell`. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class JobhubError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[] | Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetail[] | Record<string, unknown>) {
    super(message);
    this.name = 'JobhubError';
    this.code = code;
    this.details = details;
  }
}

/** An invalid job spec; `details` holds every problem found, each located. */
export class SpecInvalidError extends JobhubError {
  readonly problems: ErrorDetail[];
  /** The file the spec came from, when known. */
  readonly source: string | undefined;
  constructor(problems: ErrorDetail[], source?: string) {
    super(
      'spec_invalid',
      `${source ?? 'job spec'} is invalid: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
      problems,
    );
    this.problems = problems;
    this.source = source;
  }
}

export class NotFoundError extends JobhubError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

export class ConflictError extends JobhubError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('conflict', message, details);
  }
}

const HTTP_STATUS: Record<ErrorCode, number> = {
  spec_invalid: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unsupported_media_type: 415,
  unsupported: 400,
  placement_failed: 409,
  unavailable: 503,
  store_error: 500,
  insufficient_storage: 507,
  internal: 500,
};

/** CLI exit codes: 1 is reserved for "the job failed"; usage and input errors are 2. */
const EXIT_CODE: Record<ErrorCode, number> = {
  spec_invalid: 2,
  bad_request: 2,
  unauthorized: 2,
  forbidden: 2,
  not_found: 2,
  conflict: 2,
  too_large: 2,
  rate_limited: 3,
  unsupported_media_type: 2,
  unsupported: 2,
  placement_failed: 2,
  unavailable: 3,
  store_error: 3,
  insufficient_storage: 3,
  internal: 3,
};

/** The code of an HTTP status an API answered with, for errors that come back to the CLI. */
export function codeOfHttpStatus(status: number): ErrorCode {
  const found = (Object.entries(HTTP_STATUS) as Array<[ErrorCode, number]>).find(([, s]) => s === status);
  return found?.[0] ?? (status >= 500 ? 'internal' : 'bad_request');
}

/** Error codes that say the disk is full: SQLite, Node's file system, PostgreSQL (disk_full, 53100). */
const DISK_FULL = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', '53100']);

/** File system codes that mean "this folder cannot be used", with the words a user reads. */
const FOLDER_PROBLEMS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such file or folder',
};

/**
 * A full disk or an unusable folder as a typed error with a message a user can act on; undefined
 * for anything else. A full disk is `insufficient_storage` (HTTP 507): the server keeps serving
 * reads and takes writes again once space is freed.
 */
export function systemErrorOf(err: unknown): JobhubError | undefined {
  if (!(err instanceof Error) || err instanceof JobhubError) return undefined;
  const e = err as Error & { code?: unknown; path?: unknown; syscall?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (DISK_FULL.has(code)) {
    return new JobhubError(
      'insufficient_storage',
      `the server is out of disk space (${code}); free space and retry`,
    );
  }
  const words = FOLDER_PROBLEMS[code];
  if (words && typeof e.path === 'string' && typeof e.syscall === 'string') {
    return new JobhubError('store_error', `cannot ${e.syscall} ${e.path}: ${words} (${code})`);
  }
  return undefined;
}

export function httpStatusOf(err: unknown): number {
  return err instanceof JobhubError ? HTTP_STATUS[err.code] : 500;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof JobhubError ? EXIT_CODE[err.code] : 3;
}

/** Formats a located problem as `file:line:col: path: message`. */
export function formatProblem(p: ErrorDetail, file?: string): string {
  const loc =
    p.line !== undefined
      ? `${file ?? ''}${file ? ':' : ''}${p.line}:${p.column ?? 1}: `
      : file
        ? `${file}: `
        : '';
  return `${loc}${p.path ? `${p.path}: ` : ''}${p.message}`;
}
