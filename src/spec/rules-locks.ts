/** Rules of job `locks`: a name is not blank, and a job names each lock once. */
import { list, obj, type RawObject, str } from './raw.js';
import type { RawProblem } from './schema-errors.js';

export function lockRules(spec: RawObject): RawProblem[] {
  const problems: RawProblem[] = [];
  const seen = new Map<string, number>();
  list(spec.locks).forEach((item, i) => {
    const name = typeof item === 'string' ? item : str(obj(item)?.name);
    const at = typeof item === 'string' ? ['locks', i] : ['locks', i, 'name'];
    if (name === undefined) return; // the schema reports it
    if (name.trim() === '') {
      problems.push({ path: at, message: 'a lock name cannot be blank' });
      return;
    }
    const first = seen.get(name);
    if (first !== undefined) {
      problems.push({ path: at, message: `lock "${name}" is already taken by locks[${first}]` });
    } else seen.set(name, i);
  });
  return problems;
}
