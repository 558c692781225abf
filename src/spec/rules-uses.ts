/**
 * Rules of `use` (seed 004's workflows from registered steps): a stage either runs its own tasks or
 * takes a template's stages in, never both; `params` give values to a use only; their names are
 * parameter names, and the job's `{{.Params.x}}` in their values name declared parameters. Whether
 * the template exists and takes these values is known only at submission (see workflow.ts).
 */
import { PARAM_NAME } from './params.js';
import { list, obj, type RawObject, str } from './raw.js';
import type { RawProblem } from './schema-errors.js';
import type { PathSegment } from './source.js';
import { didYouMean, nameList } from './suggest.js';
import { parseTemplate } from './template.js';

/** Fields that say how a stage runs its own tasks: meaningless on a stage that uses a template. */
const OWN_TASK_FIELDS = ['tasks', 'type', 'background', 'longRunning', 'pipelines'] as const;

export function useRules(spec: RawObject): RawProblem[] {
  const problems: RawProblem[] = [];
  const report = (path: PathSegment[], message: string, atKey = false) =>
    problems.push(atKey ? { path, message, atKey } : { path, message });
  const declared = Object.keys(obj(spec.params) ?? {});
  list(spec.stages).forEach((s, si) => {
    const stage = obj(s);
    if (!stage) return;
    const base: PathSegment[] = ['stages', si];
    const name = str(stage.name) ?? `#${si}`;
    if (stage.use === undefined) {
      if (stage.tasks === undefined) report(base, 'missing required field "tasks"');
      if (stage.params !== undefined) {
        report(
          [...base, 'params'],
          `params on a stage give values to its use: add use: <template> to stage "${name}", or declare params at the top of the spec`,
          true,
        );
      }
      return;
    }
    for (const field of OWN_TASK_FIELDS) {
      if (stage[field] !== undefined) {
        report(
          [...base, field],
          `stage "${name}" uses a template, so it takes its ${field === 'tasks' ? 'tasks' : 'stage settings'} from there: remove ${field}`,
          true,
        );
      }
    }
    for (const [param, value] of Object.entries(obj(stage.params) ?? {})) {
      const at: PathSegment[] = [...base, 'params', param];
      if (!PARAM_NAME.test(param)) {
        report(at, `"${param}" is not a valid parameter name: a letter, then letters, digits and _`, true);
      }
      if (typeof value !== 'string') continue;
      const { refs, errors } = parseTemplate(value);
      for (const e of errors) report(at, e);
      for (const ref of refs) {
        if (ref.kind !== 'param') {
          report(at, "a use's parameter values may refer to this job's {{.Params.<name>}} only");
        } else if (!declared.includes(ref.name)) {
          const known =
            declared.length > 0 ? `; declared: ${nameList(declared)}` : '; the spec declares no params';
          report(
            at,
            `unknown parameter "${ref.name}" in {{.Params.${ref.name}}}${didYouMean(ref.name, declared)}${known}`,
          );
        }
      }
    }
  });
  return problems;
}
