/**
 * The server's side of workflows (seed 004): templates are found for a `use` as the caller may see
 * them, and a template pushed with uses must name templates that exist ("the steps of any workflow
 * must already exist in the system") and must not use itself, directly or through others.
 */
import { JobhubError } from '../core/errors.js';
import { type Owner, sameOwner } from '../core/types.js';
import { type TemplateResolver, useRef } from '../plan/workflow.js';
import { loadSpec } from '../spec/index.js';
import type { JobSpec, UseSpec } from '../spec/model.js';
import { resolveParams } from '../spec/params.js';
import type { Store } from '../store/store.js';
import { seesOwner } from './access.js';
import type { Principal } from './context.js';

/** Templates as `p` sees them: another owner's is not there at all. */
export function templateResolver(store: Store, p: Principal): TemplateResolver {
  return async (name, version) => {
    const t = await store.getTemplate(name, version);
    if (!t || !seesOwner(p, t.owner)) return undefined;
    return { name: t.name, version: t.version, text: t.rawSpec };
  };
}

/**
 * Templates as the jobs of `owner` may use them (a schedule runs with no caller): the owner's own,
 * or every one when there is no owner (a server admin's schedule).
 */
export function ownerTemplateResolver(store: Store, owner: Owner | null): TemplateResolver {
  return async (name, version) => {
    const t = await store.getTemplate(name, version);
    if (!t) return undefined;
    const mine = owner === null || (t.owner !== null && sameOwner(t.owner, owner));
    return mine ? { name: t.name, version: t.version, text: t.rawSpec } : undefined;
  };
}

function refused(stage: string, message: string): JobhubError {
  const text = `stage "${stage}": ${message}`;
  return new JobhubError('bad_request', text, [{ path: `stages.${stage}.use`, message }]);
}

/**
 * Checks the uses of a spec about to be pushed as template `name`: each used template exists, takes
 * the values given (those that refer to the job's parameters are known only at submission), and no
 * chain of uses leads back to `name`.
 */
export async function checkUsesAtPush(
  resolve: TemplateResolver,
  name: string,
  spec: JobSpec,
  chain: string[] = [name],
): Promise<void> {
  for (const s of spec.stages) {
    if (!s.use) continue;
    const at = chain.length > 1 ? `${chain[chain.length - 1]}: ${s.name}` : s.name;
    const cycleAt = chain.indexOf(s.use.template);
    if (cycleAt >= 0) {
      throw refused(
        at,
        `templates would use each other in a cycle: ${[...chain.slice(cycleAt), s.use.template].join(' -> ')}`,
      );
    }
    if (chain.length > 8) throw refused(at, 'uses nest deeper than 8 templates');
    const src = await resolve(s.use.template, s.use.version);
    if (!src) {
      throw refused(
        at,
        `use: template "${useRef(s.use)}" not found (push the templates a workflow uses first)`,
      );
    }
    const used = loadSpec(src.text).spec;
    if (chain.length === 1) checkLiteralParams(used, s.use, s.name, `${src.name}@${src.version}`);
    await checkUsesAtPush(resolve, name, used, [...chain, src.name]);
  }
}

/** The values that do not wait for the job's parameters, checked now; unknown names always. */
function checkLiteralParams(t: JobSpec, use: UseSpec, stage: string, id: string): void {
  const literal: Record<string, unknown> = {};
  const later = new Set<string>();
  for (const [k, v] of Object.entries(use.params)) {
    if (typeof v === 'string' && v.includes('{{')) later.add(k);
    else literal[k] = v;
  }
  const declared = new Set((t.params ?? []).map((d) => d.name));
  const problems: string[] = [...later]
    .filter((k) => !declared.has(k))
    .map((k) => `params.${k}: unknown parameter`);
  try {
    resolveParams(t, literal);
  } catch (err) {
    if (!(err instanceof JobhubError) || !Array.isArray(err.details)) throw err;
    for (const d of err.details) {
      if (d.message === 'is required' && later.has(d.path.slice('params.'.length))) continue;
      problems.push(`${d.path}: ${d.message}`);
    }
  }
  if (problems.length > 0) throw refused(stage, `use ${id}: ${problems.join('; ')}`);
}
