/**
 * Rules of `params`: names usable in templates and environment names, types against `values` and
 * `default`, and every `{{.Params.x}}` (in tasks, selectors, roles, lock names) naming a declared one.
 */
import { PARAM_NAME } from './params.js';
import { list, obj, type RawObject, str } from './raw.js';
import { templatedStrings } from './rules-tasks.js';
import type { RawProblem } from './schema-errors.js';
import type { PathSegment } from './source.js';
import { didYouMean, nameList } from './suggest.js';
import { parseTemplate } from './template.js';

type Report = (path: PathSegment[], message: string, atKey?: boolean) => void;

export function paramRules(spec: RawObject): RawProblem[] {
  const problems: RawProblem[] = [];
  const report: Report = (path, message, atKey) =>
    problems.push(atKey ? { path, message, atKey } : { path, message });
  const declared = obj(spec.params) ?? {};
  for (const [name, d] of Object.entries(declared)) {
    if (!PARAM_NAME.test(name)) {
      report(
        ['params', name],
        `"${name}" is not a valid parameter name: a letter, then letters, digits and _`,
        true,
      );
    }
    const decl = obj(d);
    if (decl) checkDeclaration(decl, ['params', name], report);
  }
  const names = Object.keys(declared);
  for (const [text, at] of [...taskStrings(spec), ...placementStrings(spec)]) {
    for (const ref of parseTemplate(text).refs) {
      if (ref.kind !== 'param' || names.includes(ref.name)) continue;
      const known = names.length > 0 ? `; declared: ${nameList(names)}` : '; the spec declares no params';
      report(
        at,
        `unknown parameter "${ref.name}" in {{.Params.${ref.name}}}${didYouMean(ref.name, names)}${known}`,
      );
    }
  }
  return problems;
}

function checkDeclaration(decl: RawObject, at: PathSegment[], report: Report): void {
  const type = str(decl.type) ?? 'string';
  const values = list(decl.values).filter((v): v is string => typeof v === 'string');
  if (type === 'enum' && decl.values === undefined) report(at, 'an enum parameter needs its values');
  if (type !== 'enum' && decl.values !== undefined)
    report([...at, 'values'], `values are for enum parameters, not ${type}`);
  const dflt = decl.default;
  if (dflt === undefined) return;
  const wrong =
    (type === 'number' && typeof dflt !== 'number') ||
    (type === 'boolean' && typeof dflt !== 'boolean') ||
    (type === 'string' && typeof dflt !== 'string') ||
    (type === 'enum' && !values.includes(String(dflt)));
  if (wrong) {
    const want = type === 'enum' ? `one of ${values.join(', ')}` : `a ${type}`;
    report([...at, 'default'], `the default must be ${want}`);
  }
}

function taskStrings(spec: RawObject): Array<[string, PathSegment[]]> {
  const out: Array<[string, PathSegment[]]> = [];
  list(spec.stages).forEach((s, si) => {
    list(obj(s)?.tasks).forEach((t, ti) => {
      const task = obj(t);
      if (task) out.push(...templatedStrings(task, ['stages', si, 'tasks', ti]));
    });
  });
  return out;
}

/** Strings read before dispatch, where parameters are bound at submission (see params.ts). */
function placementStrings(spec: RawObject): Array<[string, PathSegment[]]> {
  const out: Array<[string, PathSegment[]]> = [];
  const add = (v: unknown, p: PathSegment[]) => {
    if (typeof v === 'string') out.push([v, p]);
  };
  const selectors = (sels: unknown, base: PathSegment[]): void => {
    list(sels).forEach((x, i) => {
      const sel = obj(x);
      if (!sel) return;
      add(sel.role, [...base, i, 'role']);
      for (const [k, v] of Object.entries(obj(sel.labels) ?? {})) add(v, [...base, i, 'labels', k]);
      add(obj(sel.label)?.v, [...base, i, 'label', 'v']);
    });
  };
  list(spec.nodeAssignments).forEach((a, ai) => {
    add(obj(a)?.role, ['nodeAssignments', ai, 'role']);
    selectors(obj(a)?.selectors, ['nodeAssignments', ai, 'selectors']);
  });
  list(spec.stages).forEach((s, si) => {
    selectors(obj(s)?.selectors, ['stages', si, 'selectors']);
  });
  list(spec.locks).forEach((l, li) => {
    if (typeof l === 'string') add(l, ['locks', li]);
    else add(obj(l)?.name, ['locks', li, 'name']);
  });
  return out;
}
