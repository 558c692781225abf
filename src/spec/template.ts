/**
 * The `{{.Nodes.srv.Ip}}` form of benchhub's examples (Go template field references, nothing else):
 * `.Nodes.<assignment>.Ip|Name|Id|Role` (`.Node.` is accepted too), `.Job.Id|Name`, and in env values
 * `.Secrets.<name>` (the owner org's secret), and `.Params.<name>` (the job's parameter values).
 * Checked when a spec is validated, filled in when a task is dispatched, in one pass: a value that
 * itself looks like `{{...}}` is pasted as text, never expanded (a parameter cannot reach a secret).
 */

export interface TemplateContext {
  job: { id: number; name: string };
  nodes: Record<string, { ip: string; name: string; id: string; role: string }>;
  /** The owner org's secrets the spec uses (env values only). */
  secrets?: Record<string, string>;
  /** The job's parameter values, as text; a parameter without a value renders as ''. */
  params?: Record<string, string>;
}

const EXPR = /\{\{-?\s*(.*?)\s*-?\}\}/g;
const FIELD_PATH = /^\.[A-Za-z_][\w-]*(\.[A-Za-z0-9_][\w-]*)*$/;
const NODE_FIELDS = ['Ip', 'Name', 'Id', 'Role'] as const;
const JOB_FIELDS = ['Id', 'Name'] as const;

export type TemplateRef =
  | { kind: 'node'; node: string; field: (typeof NODE_FIELDS)[number] }
  | { kind: 'job'; field: (typeof JOB_FIELDS)[number] }
  | { kind: 'secret'; name: string }
  | { kind: 'param'; name: string };

/** Parses every `{{ }}` in a string; returns the references, or a message for each bad one. */
export function parseTemplate(text: string): { refs: TemplateRef[]; errors: string[] } {
  const refs: TemplateRef[] = [];
  const errors: string[] = [];
  if (!text.includes('{{')) return { refs, errors };
  for (const m of text.matchAll(EXPR)) {
    const result = parseExpression(m[1] ?? '');
    if (typeof result === 'string') errors.push(result);
    else refs.push(result);
  }
  const unclosed = text.replace(EXPR, '');
  if (unclosed.includes('{{')) errors.push('unclosed "{{" in template');
  return { refs, errors };
}

function parseExpression(expr: string): TemplateRef | string {
  if (!FIELD_PATH.test(expr)) {
    return `unsupported template expression "{{${expr}}}": only field references like {{.Nodes.srv.Ip}} or {{.Job.Id}}`;
  }
  const parts = expr.slice(1).split('.');
  const [root, a, b] = parts;
  if ((root === 'Nodes' || root === 'Node') && parts.length === 3 && a !== undefined && b !== undefined) {
    const field = NODE_FIELDS.find((f) => f === b);
    if (!field) return `unknown node field "${b}" in {{${expr}}}: use one of ${NODE_FIELDS.join(', ')}`;
    return { kind: 'node', node: a, field };
  }
  if (root === 'Secrets' && parts.length === 2 && a !== undefined) return { kind: 'secret', name: a };
  if (root === 'Params' && parts.length === 2 && a !== undefined) return { kind: 'param', name: a };
  if (root === 'Job' && parts.length === 2 && a !== undefined) {
    const field = JOB_FIELDS.find((f) => f === a);
    if (!field) return `unknown job field "${a}" in {{${expr}}}: use one of ${JOB_FIELDS.join(', ')}`;
    return { kind: 'job', field };
  }
  return `unknown template reference {{${expr}}}: use {{.Nodes.<name>.Ip|Name|Id|Role}}, {{.Job.Id|Name}}, {{.Params.<name>}} or {{.Secrets.<name>}}`;
}

/** Fills in every reference; the spec was validated, so unknown references cannot occur here. */
export function renderTemplate(text: string, ctx: TemplateContext): string {
  if (!text.includes('{{')) return text;
  return text.replace(EXPR, (_all, expr: string) => {
    const ref = parseExpression(expr);
    if (typeof ref === 'string') return '';
    if (ref.kind === 'job') return ref.field === 'Id' ? String(ctx.job.id) : ctx.job.name;
    if (ref.kind === 'secret') return ctx.secrets?.[ref.name] ?? '';
    if (ref.kind === 'param') return ctx.params?.[ref.name] ?? '';
    const node = ctx.nodes[ref.node];
    if (!node) return '';
    const key =
      ref.field === 'Ip' ? 'ip' : ref.field === 'Name' ? 'name' : ref.field === 'Id' ? 'id' : 'role';
    return node[key];
  });
}
