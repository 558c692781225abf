/**
 * Loading a job spec: parse (YAML or JSON), check against the schema and the semantic rules, report
 * every problem at once with its path and line:column, then normalize.
 */
import { type ErrorDetail, SpecInvalidError } from '../core/errors.js';
import { backendRules } from './backend-job.js';
import type { JobSpec } from './model.js';
import { normalize } from './normalize.js';
import { fileRules } from './rules-files.js';
import { graphRules } from './rules-graph.js';
import { lockRules } from './rules-locks.js';
import { paramRules } from './rules-params.js';
import { taskRules } from './rules-tasks.js';
import { useRules } from './rules-uses.js';
import { JobSpecInput } from './schema.js';
import { type RawProblem, schemaProblems } from './schema-errors.js';
import { formatPath, parseSource } from './source.js';

export interface LoadedSpec {
  spec: JobSpec;
  input: JobSpecInput;
}

/** Every problem of a spec text, located; empty when the spec is valid. */
export function validateSpecText(text: string): ErrorDetail[] {
  return check(text).problems;
}

/**
 * Valid specs seen lately, by their text: the same spec submitted again (a template, a benchmark,
 * a retry) is not parsed and checked again. Entries are deeply frozen, so sharing them is safe.
 */
const recent = new Map<string, LoadedSpec>();
const RECENT_MAX = 64;

/** Parses, validates and normalizes; throws SpecInvalidError listing every problem. */
export function loadSpec(text: string, source?: string): LoadedSpec {
  const hit = recent.get(text);
  if (hit) return hit;
  const { problems, value } = check(text);
  if (problems.length > 0) throw new SpecInvalidError(problems, source);
  const input = value as JobSpecInput;
  const loaded = deepFreeze({ spec: normalize(input), input });
  if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value as string);
  recent.set(text, loaded);
  return loaded;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Problems listed at most in one answer (then a last one counting the rest). */
export const MAX_PROBLEMS = 100;

function check(text: string): { problems: ErrorDetail[]; value: unknown } {
  const parsed = parseSource(text);
  if (parsed.syntaxErrors.length > 0) return { problems: parsed.syntaxErrors, value: undefined };
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      problems: [
        { path: '', message: 'a job spec must be a mapping with name and stages', line: 1, column: 1 },
      ],
      value,
    };
  }
  const raw: RawProblem[] = [
    ...schemaProblems(JobSpecInput, value),
    ...backendRules(value as Record<string, unknown>),
    ...graphRules(value as Record<string, unknown>),
    ...taskRules(value as Record<string, unknown>),
    ...fileRules(value as Record<string, unknown>),
    ...lockRules(value as Record<string, unknown>),
    ...paramRules(value as Record<string, unknown>),
    ...useRules(value as Record<string, unknown>),
  ];
  const seen = new Set<string>();
  const problems: ErrorDetail[] = [];
  for (const p of raw) {
    const pos = p.atKey ? parsed.map.keyAt(p.path) : parsed.map.valueAt(p.path);
    const detail: ErrorDetail = { path: formatPath(p.path), message: p.message };
    if (pos) {
      detail.line = pos.line;
      detail.column = pos.column;
    }
    const key = `${detail.path}\u0000${detail.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      problems.push(detail);
    }
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  if (problems.length > MAX_PROBLEMS) {
    // Thousands of problems help nobody and make an answer of megabytes: the first ones, and a count.
    const more = problems.length - MAX_PROBLEMS;
    const next = problems[MAX_PROBLEMS] as ErrorDetail;
    problems.length = MAX_PROBLEMS;
    const summary: ErrorDetail = {
      path: next.path,
      message: `… and ${more} more problem${more === 1 ? '' : 's'} from here`,
    };
    if (next.line !== undefined) summary.line = next.line;
    if (next.column !== undefined) summary.column = next.column;
    problems.push(summary);
  }
  return { problems, value };
}

export type { JobSpec } from './model.js';
