/**
 * File names, descriptors and globs: the rules every side applies to a path it is given (the spec's
 * rules, the server's routes, the agent writing into a working directory). Paths are POSIX, relative,
 * and never leave their folder: no leading `/`, no `..` segment, no NUL.
 */
import path from 'node:path';

/** Why a relative path is refused, or undefined when it is fine. */
export function relPathProblem(p: string): string | undefined {
  if (p === '') return 'is empty';
  if (p.includes('\0')) return 'contains a NUL character';
  if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\')) {
    return 'is an absolute path; give a path relative to the working directory';
  }
  if (p.split(/[\\/]/).includes('..')) return 'contains ".." (a path may not leave its folder)';
  const norm = path.posix.normalize(p);
  if (norm === '.' || norm === './') return 'names the folder itself, not a file in it';
  return undefined;
}

/**
 * A relative path in canonical form (`a/b.txt`: no `./`, no doubled or trailing `/`), or an Error
 * saying why it is refused.
 */
export function cleanRelPath(p: string, what = 'path'): string {
  const problem = relPathProblem(p);
  if (problem) throw new Error(`${what} "${p}" ${problem}`);
  return path.posix
    .normalize(p)
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
}

/** `root/rel`, checked to stay inside root (lexically; callers also refuse symlinks on the way). */
export function joinInside(root: string, rel: string, what = 'path'): string {
  const clean = cleanRelPath(rel, what);
  const full = path.resolve(root, clean);
  const base = path.resolve(root);
  if (full !== base && !full.startsWith(base + path.sep))
    throw new Error(`${what} "${rel}" leaves its folder`);
  return full;
}

/** A parsed `job:ID:source[:destination]` descriptor (seed 003's FileDescriptor, for jobs). */
export interface JobDescriptor {
  jobId: number;
  /** The file in that job's files (`outputs/result.csv`, or `result.csv`: see resolveSource). */
  source: string;
  /** Where it goes, relative to the task's working directory. Default: the source's base name. */
  to: string;
}

/** Parses a descriptor; the Error says what is wrong with it, for people. */
export function parseDescriptor(text: string): JobDescriptor {
  const parts = text.split(':');
  const kind = parts[0] ?? '';
  if (kind.toLowerCase() === 'erc') {
    throw new Error(
      `"${text}": ERC descriptors are not supported; push the compendium as a workspace instead`,
    );
  }
  if (kind !== 'job' || parts.length < 3 || parts.length > 4) {
    throw new Error(`"${text}" is not a file descriptor: use job:ID:source:destination`);
  }
  const id = parts[1] ?? '';
  if (!/^[1-9][0-9]*$/.test(id) || !Number.isSafeInteger(Number(id))) {
    throw new Error(`"${text}": "${id}" is not a job id`);
  }
  // The source may be written seed-003 style, from the root of the job's files: `/data/x`.
  const rawSource = (parts[2] ?? '').replace(/^\/+/, '');
  const sourceProblem = relPathProblem(rawSource);
  if (sourceProblem) throw new Error(`"${text}": the source "${parts[2] ?? ''}" ${sourceProblem}`);
  const source = cleanRelPath(rawSource);
  const rawTo = parts[3] ?? path.posix.basename(source);
  const toProblem = relPathProblem(rawTo);
  if (toProblem) throw new Error(`"${text}": the destination "${rawTo}" ${toProblem}`);
  return { jobId: Number(id), source, to: cleanRelPath(rawTo) };
}

/** Whether a spec's input string is a descriptor (rather than the name of an uploaded file). */
export function isDescriptor(text: string): boolean {
  return /^[A-Za-z]+:/.test(text);
}

/**
 * A glob as a RegExp over `/`-separated relative paths: `*` and `?` stay within a segment, `**`
 * crosses segments (`**\/x` matches `x` at any depth), `[abc]` and `{a,b}` as in a shell.
 * A pattern matches a directory too: what is under a matched directory is matched as well.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let i = 0;
  let braces = 0;
  const g = glob.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  while (i < g.length) {
    const c = g[i] as string;
    if (c === '*') {
      if (g[i + 1] === '*') {
        const atStart = i === 0 || g[i - 1] === '/';
        const slash = g[i + 2] === '/';
        if (atStart && slash) {
          re += '(?:.*/)?';
          i += 3;
        } else {
          re += '.*';
          i += 2;
        }
      } else {
        re += '[^/]*';
        i += 1;
      }
    } else if (c === '?') {
      re += '[^/]';
      i += 1;
    } else if (c === '[') {
      const end = g.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
        i += 1;
      } else {
        let cls = g.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = end + 1;
      }
    } else if (c === '{') {
      re += '(?:';
      braces++;
      i += 1;
    } else if (c === '}' && braces > 0) {
      re += ')';
      braces--;
      i += 1;
    } else if (c === ',' && braces > 0) {
      re += '|';
      i += 1;
    } else {
      re += c.replace(/[.+^$()|\\]/g, '\\$&');
      i += 1;
    }
  }
  while (braces-- > 0) re += ')';
  return new RegExp(`^${re}(?:/.*)?$`);
}

/** The folder a glob's matches must be under (its segments before the first wildcard). */
export function globBase(glob: string): string {
  const segments = glob.replace(/^(\.\/)+/, '').split('/');
  const fixed: string[] = [];
  for (const s of segments.slice(0, -1)) {
    if (/[*?[{]/.test(s)) break;
    fixed.push(s);
  }
  return fixed.join('/');
}
