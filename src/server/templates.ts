/**
 * Templates (seed 004's registered steps): pushing a spec as the next version of a name, finding
 * the version a submission names (`bench-redis@3`, or the newest), and how a version looks in the
 * API. A template belongs to whoever pushed it, or to the org its spec names as `owner`; those who
 * may not see that owner get a 404, as for a template that does not exist.
 */
import { createHash } from 'node:crypto';
import { ConflictError, JobhubError, NotFoundError } from '../core/errors.js';
import { sameOwner } from '../core/types.js';
import { hasUses } from '../plan/workflow.js';
import { loadSpec } from '../spec/index.js';
import type { Store, TemplateRecord } from '../store/store.js';
import { seesOwner } from './access.js';
import type { Principal } from './context.js';
import { iso } from './job-view.js';
import { resolveOwner } from './submission.js';
import type { TemplateVersionView, TemplateView } from './template-schemas.js';
import { checkUsesAtPush, templateResolver } from './workflows.js';

const REF = /^([A-Za-z0-9][A-Za-z0-9_.-]*)(?:@([0-9]+))?$/;

/** `name` or `name@version`. */
export function parseTemplateRef(text: string): { name: string; version?: number } {
  const m = REF.exec(text);
  if (!m?.[1]) {
    throw new JobhubError('bad_request', `template "${text}": expected name or name@version`, [
      { path: 'query.template', message: 'expected name or name@version' },
    ]);
  }
  return m[2] === undefined ? { name: m[1] } : { name: m[1], version: Number(m[2]) };
}

/** The version a reference names, if the principal may see it; 404 otherwise. */
export async function findTemplate(store: Store, p: Principal, ref: string): Promise<TemplateRecord> {
  const { name, version } = parseTemplateRef(ref);
  const found = await store.getTemplate(name, version);
  if (!found || !seesOwner(p, found.owner)) throw new NotFoundError(`template ${ref}`);
  return found;
}

/**
 * Pushes a spec (checked like a submission) as a template: the next version of its name, unless
 * the newest one has the same text. A name stays with its first owner: pushing another owner's name
 * is a conflict.
 */
export async function pushTemplate(
  store: Store,
  p: Principal,
  text: string,
  opts: { name?: string; now: number },
): Promise<{ template: TemplateRecord; created: boolean }> {
  const { spec } = loadSpec(text);
  const owner = await resolveOwner(store, p, spec.owner);
  const name = opts.name ?? spec.name;
  if (hasUses(spec)) await checkUsesAtPush(templateResolver(store, p), name, spec);
  const current = await store.getTemplate(name);
  if (current && !sameOwner(current.owner, owner)) {
    // Those who cannot see the owner learn only that the name is taken, not whose it is.
    const whose =
      seesOwner(p, current.owner) && current.owner ? ` by ${current.owner.type} "${current.owner.name}"` : '';
    throw new ConflictError(
      `template name "${name}" is taken${whose}: push under another name, or with its owner`,
    );
  }
  return store.pushTemplate({
    name,
    sha256: createHash('sha256').update(text).digest('hex'),
    rawSpec: text,
    description: spec.description ?? null,
    owner,
    pushedBy: p.userName ?? p.name,
    createdAt: opts.now,
  });
}

export function templateView(t: TemplateRecord): TemplateView {
  return {
    name: t.name,
    version: t.version,
    sha256: t.sha256,
    description: t.description,
    owner: t.owner,
    pushedBy: t.pushedBy,
    createdAt: iso(t.createdAt),
    params: declaredParams(t.rawSpec),
  };
}

/** The params a stored spec declares; none when this version of jobhub no longer accepts the spec. */
function declaredParams(text: string): TemplateView['params'] {
  try {
    return (loadSpec(text).spec.params ?? []).map((d) => ({ ...d }));
  } catch {
    return [];
  }
}

export function templateVersionView(t: TemplateRecord): TemplateVersionView {
  return { ...templateView(t), spec: t.rawSpec };
}
