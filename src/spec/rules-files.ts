/**
 * Rules of the file fields: job `inputs` (descriptor syntax, uploads' names, destinations that stay
 * in the working directory, no two inputs to one place) and `workspace`; task `outputs` (globs that
 * stay in the working directory) and `keepWorkdir`.
 */
import { isDescriptor, parseDescriptor, relPathProblem } from '../files/paths.js';
import { list, obj, type RawObject, str } from './raw.js';
import { taskDriver } from './resolve.js';
import type { RawProblem } from './schema-errors.js';
import type { PathSegment } from './source.js';

export function fileRules(spec: RawObject): RawProblem[] {
  const problems: RawProblem[] = [];
  const report = (path: PathSegment[], message: string) => problems.push({ path, message });
  const destinations = new Map<string, string>();
  list(spec.inputs).forEach((item, i) => {
    const at: PathSegment[] = ['inputs', i];
    const o = typeof item === 'string' ? undefined : obj(item);
    let from = typeof item === 'string' && isDescriptor(item) ? item : str(o?.from);
    const name = typeof item === 'string' && !isDescriptor(item) ? item : str(o?.name);
    const fromAt = typeof item === 'string' ? at : [...at, 'from'];
    const nameAt = typeof item === 'string' ? at : [...at, 'name'];
    if (o && o.from !== undefined && o.name !== undefined) {
      report(at, 'an input is either from another job (from) or an uploaded file (name), not both');
      return;
    }
    if (o && o.from === undefined && o.name === undefined) {
      report(at, 'say which file: from: job:ID:source:destination, or name: <uploaded file>');
      return;
    }
    let to: string | undefined;
    if (from !== undefined) {
      try {
        to = parseDescriptor(from).to;
      } catch (err) {
        report(fromAt, (err as Error).message);
        from = undefined;
      }
    } else if (name !== undefined) {
      const problem = relPathProblem(name);
      if (problem) report(nameAt, `the input name "${name}" ${problem}`);
      else to = name;
    }
    const givenTo = str(o?.to);
    if (givenTo !== undefined) {
      const problem = relPathProblem(givenTo);
      if (problem) {
        report([...at, 'to'], `the destination "${givenTo}" ${problem}`);
        return;
      }
      to = givenTo;
    }
    if (to === undefined) return;
    const key = to.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    const first = destinations.get(key);
    if (first !== undefined)
      report(
        o && givenTo !== undefined ? [...at, 'to'] : at,
        `two inputs go to "${key}" (the first is ${first})`,
      );
    else destinations.set(key, `inputs[${i}]`);
  });

  list(spec.stages).forEach((s, si) => {
    list(obj(s)?.tasks).forEach((t, ti) => {
      const task = obj(t);
      if (!task) return;
      const at: PathSegment[] = ['stages', si, 'tasks', ti];
      const isStopper = taskDriver(task).driver === 'stopper';
      if (isStopper && task.outputs !== undefined) {
        report([...at, 'outputs'], 'a stopper task runs nothing, so it has no outputs');
      }
      if (isStopper && task.keepWorkdir === true) {
        report([...at, 'keepWorkdir'], 'a stopper task runs nothing, so it has no working directory to keep');
      }
      list(task.outputs).forEach((g, gi) => {
        if (typeof g !== 'string') return;
        if (g.trim() === '') {
          report([...at, 'outputs', gi], 'an output glob must not be empty');
          return;
        }
        const problem = relPathProblem(g);
        if (problem) report([...at, 'outputs', gi], `the output glob "${g}" ${problem}`);
      });
    });
  });
  return problems;
}
