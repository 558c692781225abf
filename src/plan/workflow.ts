/**
 * Workflows from registered steps (seed 004): a stage that says `use: build-step@2` is replaced by
 * that template's stages, renamed `<stage>.<templateStage>`, as a sub-graph of the job's DAG. The
 * sub-graph's first stages wait for what the using stage needs; a stage that needs the using stage
 * waits for the sub-graph's last stages. The used stages run on the job's node assignments (a used
 * template may only declare ones the job has, with the same role); a used stage without selectors
 * runs where the using stage would. Each used stage keeps its template's parameter values (as if
 * that template ran alone), its locks join the job's. Templates come from a resolver, so this runs
 * wherever templates are (the server, at submission); a template using itself, directly or through
 * others, is refused naming the cycle.
 */
import { type ErrorDetail, JobhubError, SpecInvalidError } from '../core/errors.js';
import { loadSpec } from '../spec/index.js';
import type { JobSpec, LockSpec, StageSpec, UsedTemplate, UseSpec } from '../spec/model.js';
import { bindParams, type ParamValues, renderParams, resolveParams } from '../spec/params.js';
import { stageAssignments } from './selectors.js';

/** One stored version of a template. */
export interface TemplateSource {
  name: string;
  version: number;
  text: string;
}

/** Finds a template version (newest without `version`); undefined when there is none to see. */
export type TemplateResolver = (name: string, version?: number) => Promise<TemplateSource | undefined>;

/** Nesting and size bounds: a workflow is a graph people read, not a generator. */
const MAX_DEPTH = 8;
const MAX_STAGES = 2000;

export function hasUses(spec: JobSpec): boolean {
  return spec.stages.some((s) => s.use !== undefined);
}

export function useRef(use: UseSpec): string {
  return use.version === undefined ? use.template : `${use.template}@${use.version}`;
}

/** Where no templates are to be had (`jobhub run`): a clear refusal rather than a job that cannot run. */
export function refuseUses(spec: JobSpec): void {
  const s = spec.stages.find((x) => x.use !== undefined);
  if (!s?.use) return;
  const message = `stage "${s.name}": use: ${useRef(s.use)} needs templates, which live on a server: push them with jobhub template push and submit this spec with jobhub submit`;
  throw new JobhubError('bad_request', message, [{ path: `stages.${s.name}.use`, message }]);
}

function bad(stage: string, message: string, details?: ErrorDetail[]): JobhubError {
  const text = `stage "${stage}": ${message}`;
  return new JobhubError('bad_request', text, details ?? [{ path: `stages.${stage}.use`, message }]);
}

interface Level {
  stages: StageSpec[];
  locks: LockSpec[];
  uses: UsedTemplate[];
  /** Per using stage of this level: the names of all its stages, and of its last ones. */
  groups: Map<string, { all: string[]; lasts: string[] }>;
}

interface Ctx {
  resolve: TemplateResolver;
  job: JobSpec;
  stages: number;
}

/**
 * The spec with every `use` expanded (recursively); the spec itself when it has none. `params` are
 * the job's values (a use's values may refer to them); `template` is the template the job itself
 * came from, if any (the first link of a cycle).
 */
export async function expandWorkflow(
  spec: JobSpec,
  params: ParamValues,
  resolve: TemplateResolver,
  opts: { template?: string } = {},
): Promise<JobSpec> {
  if (!hasUses(spec)) return spec;
  const ctx: Ctx = { resolve, job: spec, stages: 0 };
  const level = await expandLevel(spec, undefined, params, opts.template ? [opts.template] : [], '', ctx);
  const out: JobSpec = {
    ...spec,
    stages: level.stages.map((s, index) => ({ ...s, index })),
    // Pipelines are sugar already compiled into needs; a used stage's name stands for its stages.
    pipelines: spec.pipelines.map((p) => ({
      ...p,
      stages: p.stages.flatMap((n) => level.groups.get(n)?.all ?? [n]),
    })),
    uses: level.uses,
  };
  const locks = mergeLocks(spec.locks ?? [], level.locks);
  if (locks.length > 0) out.locks = locks;
  checkExpanded(out);
  return out;
}

async function expandLevel(
  spec: JobSpec,
  own: ParamValues | undefined,
  values: ParamValues,
  chain: string[],
  where: string,
  ctx: Ctx,
): Promise<Level> {
  const level: Level = { stages: [], locks: [], uses: [], groups: new Map() };
  for (const s of spec.stages) {
    if (!s.use) {
      level.stages.push(own ? { ...s, params: own } : s);
      continue;
    }
    const full = `${where}${s.name}`;
    const sub = await takeIn(s.use, full, values, chain, ctx);
    const inner = new Set(sub.stages.map((x) => x.name));
    const needed = new Set(sub.stages.flatMap((x) => x.needs));
    const prefix = (n: string) => `${s.name}.${n}`;
    const stages = sub.stages.map((x): StageSpec => {
      const out: StageSpec = {
        ...x,
        name: prefix(x.name),
        // A first stage of the sub-graph waits for what the using stage needs.
        needs: x.needs.length === 0 ? [...s.needs] : x.needs.map(prefix),
        selectors: x.selectors.length === 0 ? s.selectors : x.selectors,
        tasks: x.tasks.map((t) =>
          t.driver === 'stopper' && inner.has(t.stopper.stage)
            ? { ...t, stopper: { ...t.stopper, stage: prefix(t.stopper.stage) } }
            : t,
        ),
      };
      return out;
    });
    level.groups.set(s.name, {
      all: stages.map((x) => x.name),
      lasts: sub.stages.filter((x) => !needed.has(x.name)).map((x) => prefix(x.name)),
    });
    level.stages.push(...stages);
    level.locks.push(...sub.locks);
    level.uses.push(...sub.uses);
  }
  // A stage that needs a using stage waits for all of that sub-graph's last stages.
  level.stages = level.stages.map((x) => {
    if (!x.needs.some((n) => level.groups.has(n))) return x;
    return { ...x, needs: [...new Set(x.needs.flatMap((n) => level.groups.get(n)?.lasts ?? [n]))] };
  });
  return level;
}

/** One use: the template found, checked and its parameters bound; its stages by their own names. */
async function takeIn(
  use: UseSpec,
  full: string,
  values: ParamValues,
  chain: string[],
  ctx: Ctx,
): Promise<Level> {
  const ref = useRef(use);
  const cycleAt = chain.indexOf(use.template);
  if (cycleAt >= 0) {
    throw bad(
      full,
      `templates use each other in a cycle: ${[...chain.slice(cycleAt), use.template].join(' -> ')}`,
    );
  }
  if (chain.length >= MAX_DEPTH) throw bad(full, `uses nest deeper than ${MAX_DEPTH} templates`);
  const src = await ctx.resolve(use.template, use.version);
  if (!src) throw bad(full, `use: template "${ref}" not found`);
  const id = `${src.name}@${src.version}`;
  const loaded = loadTemplate(src, full);
  const t = loaded.spec;
  if ((t.inputs?.length ?? 0) > 0 || t.workspace !== undefined) {
    throw bad(
      full,
      `template ${id} has inputs or a workspace; a used template brings no files: give them on this job`,
    );
  }
  if (loaded.input.nodeAssignments !== undefined) checkAssignments(t, id, full, ctx.job);
  // The use's values may refer to the job's (or the using template's) parameters.
  const given: ParamValues = {};
  for (const [k, v] of Object.entries(use.params))
    given[k] = typeof v === 'string' ? renderParams(v, values) : v;
  const tvalues = useParams(t, given, full, id);
  const bound = bindParams(t, tvalues);
  const sub = await expandLevel(bound, tvalues, tvalues, [...chain, src.name], `${full}.`, ctx);
  ctx.stages += sub.stages.length;
  if (ctx.stages > MAX_STAGES) throw bad(full, `the workflow grows past ${MAX_STAGES} stages`);
  return {
    ...sub,
    stages: sub.stages.map((x) =>
      x.template ? x : { ...x, template: { name: src.name, version: src.version } },
    ),
    locks: [...(bound.locks ?? []), ...sub.locks],
    uses: [{ stage: full, template: src.name, version: src.version }, ...sub.uses],
  };
}

function loadTemplate(src: TemplateSource, full: string): ReturnType<typeof loadSpec> {
  try {
    return loadSpec(src.text);
  } catch (err) {
    if (!(err instanceof SpecInvalidError)) throw err;
    const first = err.problems[0];
    throw bad(
      full,
      `template ${src.name}@${src.version} is not a valid spec for this version of jobhub${first ? `: ${first.path}: ${first.message}` : ''}`,
    );
  }
}

/** The use's values checked against the template's declarations; errors name the stage and parameter. */
function useParams(t: JobSpec, given: ParamValues, full: string, id: string): ParamValues {
  try {
    return resolveParams(t, given);
  } catch (err) {
    if (!(err instanceof JobhubError) || !Array.isArray(err.details)) throw err;
    const details = err.details.map((d) => ({ path: `stages.${full}.${d.path}`, message: d.message }));
    const text = err.details.map((d) => `${d.path}: ${d.message}`).join('; ');
    throw bad(full, `use ${id}: ${text}`, details);
  }
}

/** A used template's own node assignments must be the job's: same name, same role. */
function checkAssignments(t: JobSpec, id: string, full: string, job: JobSpec): void {
  const have = job.nodeAssignments.map((a) => `${a.name} (${a.role})`).join(', ');
  for (const a of t.nodeAssignments) {
    const mine = job.nodeAssignments.find((x) => x.name === a.name);
    if (mine && mine.role === a.role) continue;
    const what = mine ? `has with role ${mine.role}` : 'does not have';
    throw bad(
      full,
      `template ${id} declares node assignment "${a.name}" (role ${a.role}), which this job ${what}; a used template runs on the job's node assignments: ${have}`,
    );
  }
}

function mergeLocks(mine: readonly LockSpec[], taken: readonly LockSpec[]): LockSpec[] {
  const out = mine.map((l) => ({ ...l }));
  for (const l of taken) {
    const same = out.find((x) => x.name === l.name);
    if (!same) out.push({ ...l });
    // Two steps that want one lock: the stronger wish wins.
    else if (l.mode === 'exclusive') same.mode = 'exclusive';
  }
  return out;
}

/** What the rules check on a written spec, checked again where expansion made something new. */
function checkExpanded(spec: JobSpec): void {
  const byName = new Map<string, StageSpec>();
  for (const s of spec.stages) {
    if (byName.has(s.name))
      throw bad(s.name, 'this stage name comes twice once uses are expanded; rename one');
    byName.set(s.name, s);
  }
  const names = spec.nodeAssignments.map((a) => `${a.name} (${a.role})`).join(', ');
  for (const s of spec.stages) {
    const from = s.template ? ` (from template ${s.template.name}@${s.template.version})` : '';
    if (stageAssignments(s, spec.nodeAssignments).length === 0) {
      throw bad(
        s.name,
        `its selectors${from} match no node assignment of the job; assignments are: ${names}`,
      );
    }
    for (const t of s.tasks) {
      if (t.driver !== 'stopper') continue;
      const target = byName.get(t.stopper.stage);
      if (!target) throw bad(s.name, `stopper: unknown stage "${t.stopper.stage}"`);
      if (target.type !== 'longRunning') {
        throw bad(
          s.name,
          `stopper: stage "${target.name}" is not long-running; only long-running tasks can be stopped`,
        );
      }
      if (target.name !== s.name && !ancestors(byName, s).has(target.name)) {
        throw bad(s.name, `stopper: this stage does not run after stage "${target.name}"; add it to needs`);
      }
    }
  }
}

function ancestors(byName: Map<string, StageSpec>, stage: StageSpec): Set<string> {
  const seen = new Set<string>();
  const todo = [...stage.needs];
  for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
    if (seen.has(n)) continue;
    seen.add(n);
    todo.push(...(byName.get(n)?.needs ?? []));
  }
  return seen;
}
