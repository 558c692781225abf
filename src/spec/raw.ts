/**
 * Tolerant readers over the parsed-but-unchecked spec. The semantic rules run even when the schema
 * found problems (so that all problems are reported at once), so they must not trust shapes.
 */
export type RawObject = Record<string, unknown>;

export function obj(v: unknown): RawObject | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as RawObject) : undefined;
}

export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function bool(v: unknown): boolean {
  return v === true;
}

/** Labels from `labels: {k: v}` and benchhub's `label: {k, v}`. */
export function selectorLabels(sel: RawObject): Record<string, string> {
  const out: Record<string, string> = {};
  const labels = obj(sel.labels);
  if (labels) for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v;
  const one = obj(sel.label);
  if (one && typeof one.k === 'string' && typeof one.v === 'string') out[one.k] = one.v;
  return out;
}
