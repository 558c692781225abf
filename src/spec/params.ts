/**
 * Parameter values at submission: checked against the spec's declarations (every problem named by
 * its parameter, `params.cluster: is required`), completed with defaults, and bound into the parts
 * of the spec that are used before dispatch (selectors and roles: placement reads them). Commands,
 * env and probes keep their `{{.Params.x}}` and are filled in at dispatch with the job's values,
 * in the same single pass as the other references (see template.ts).
 */
import { type ErrorDetail, JobhubError } from '../core/errors.js';
import type { JobSpec, ParamSpec, ParamValue, Selector } from './model.js';

export type ParamValues = Record<string, ParamValue>;

/**
 * A parameter name: usable in `{{.Params.<name>}}` and as an environment variable suffix. It starts
 * with a letter, so no name is an object's own machinery (`__proto__`).
 */
export const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** `{{.Params.x}}` as template.ts reads it (spaces and `-` trim marks allowed). */
const PARAM_REF = /\{\{-?\s*\.Params\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/g;
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** `k=v` arguments (CLI `--param`, API `?param=`) to a map; the last of a repeated name wins. */
export function parseParamArgs(args: readonly string[] | undefined): Record<string, string> {
  // A Map, then own properties: a name like `__proto__` stays a (refused) name, not a prototype.
  const out = new Map<string, string>();
  for (const arg of args ?? []) {
    const eq = arg.indexOf('=');
    if (eq <= 0) {
      throw new JobhubError('bad_request', `param "${arg}": expected name=value`, [
        { path: 'params', message: `"${arg}" is not name=value` },
      ]);
    }
    out.set(arg.slice(0, eq), arg.slice(eq + 1));
  }
  return Object.fromEntries(out);
}

/** One value against its declaration: the typed value, or why it is wrong. */
export function coerceParam(decl: ParamSpec, value: unknown): ParamValue | { error: string } {
  switch (decl.type) {
    case 'number': {
      const n =
        typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
      if (typeof value === 'string' && value.trim() === '') return { error: 'must be a number, got ""' };
      return Number.isFinite(n) ? n : { error: `must be a number, got ${JSON.stringify(value)}` };
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
      if (TRUE.has(text)) return true;
      if (FALSE.has(text)) return false;
      return { error: `must be true or false, got ${JSON.stringify(value)}` };
    }
    case 'enum': {
      const text = typeof value === 'string' ? value : String(value);
      const values = decl.values ?? [];
      return values.includes(text)
        ? text
        : { error: `must be one of ${values.join(', ')}, got ${JSON.stringify(text)}` };
    }
    case 'string':
      return typeof value === 'string' ? value : String(value);
  }
}

/**
 * The job's parameter values: the given ones checked and typed, defaults for the others. Throws a
 * bad_request naming every parameter that is unknown, missing (required) or of the wrong type.
 */
export function resolveParams(spec: JobSpec, given: Readonly<Record<string, unknown>>): ParamValues {
  const decls = spec.params ?? [];
  const problems: ErrorDetail[] = [];
  const values: ParamValues = {};
  const known = new Set(decls.map((d) => d.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) {
      const hint =
        decls.length > 0 ? `; the spec declares ${[...known].join(', ')}` : '; the spec declares none';
      problems.push({ path: `params.${name}`, message: `unknown parameter${hint}` });
    }
  }
  for (const decl of decls) {
    const raw = Object.hasOwn(given, decl.name) ? given[decl.name] : undefined;
    if (raw === undefined) {
      if (decl.required) problems.push({ path: `params.${decl.name}`, message: 'is required' });
      else if (decl.default !== undefined) values[decl.name] = decl.default;
      continue;
    }
    const v = coerceParam(decl, raw);
    if (typeof v === 'object') problems.push({ path: `params.${decl.name}`, message: v.error });
    else values[decl.name] = v;
  }
  if (problems.length > 0) {
    const text = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new JobhubError('bad_request', `invalid parameters: ${text}`, problems);
  }
  return values;
}

/** Values as the text templates and the environment get. */
export function paramTexts(values: Readonly<ParamValues> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values ?? {})) out[k] = String(v);
  return out;
}

/** `JOBHUB_PARAM_<NAME>` (upper-cased) for every parameter with a value. */
export function paramEnvironment(values: Readonly<ParamValues> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(paramTexts(values))) out[`JOBHUB_PARAM_${k.toUpperCase()}`] = v;
  return out;
}

/** `{{.Params.x}}` filled in in one string; other references are left as they are. */
export function renderParams(text: string, values: Readonly<ParamValues> | null | undefined): string {
  if (!text.includes('.Params.')) return text;
  const params = paramTexts(values);
  // Only param references are replaced: the others are filled in later, at dispatch.
  return text.replace(PARAM_REF, (_all, name: string) => params[name] ?? '');
}

/** Lock names (or anything with a `name`) with their parameters filled in, for the locks. */
export function resolveLockNames<T extends { name: string }>(
  locks: readonly T[] | undefined,
  values: Readonly<ParamValues> | null | undefined,
): T[] {
  return (locks ?? []).map((l) => ({ ...l, name: renderParams(l.name, values) }));
}

function bindSelector(sel: Selector, values: ParamValues): Selector {
  const out: Selector = { ...sel, labels: {} };
  for (const [k, v] of Object.entries(sel.labels)) out.labels[k] = renderParams(v, values);
  if (sel.role !== undefined) out.role = renderParams(sel.role, values);
  return out;
}

/**
 * The spec with its values bound where they are read before dispatch: node assignment roles and
 * selectors (role, label values), stage selectors, lock names. The input spec is not changed (it
 * may be a shared, frozen one).
 */
export function bindParams(spec: JobSpec, values: ParamValues): JobSpec {
  if (!spec.params || spec.params.length === 0) return spec;
  const out: JobSpec = {
    ...spec,
    nodeAssignments: spec.nodeAssignments.map((a) => ({
      ...a,
      role: renderParams(a.role, values),
      selectors: a.selectors.map((s) => bindSelector(s, values)),
    })),
    stages: spec.stages.map((s) => ({ ...s, selectors: s.selectors.map((x) => bindSelector(x, values)) })),
  };
  if (spec.locks) out.locks = resolveLockNames(spec.locks, values);
  return out;
}

/** Resolves the given values and binds them: what a submission runs. */
export function applyParams(
  spec: JobSpec,
  given: Readonly<Record<string, unknown>>,
): { spec: JobSpec; params: ParamValues } {
  const params = resolveParams(spec, given);
  return { spec: bindParams(spec, params), params };
}
