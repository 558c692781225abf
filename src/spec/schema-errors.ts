/**
 * Turns JSON Schema violations into located, human messages: `unknown field "shel" (did you mean
 * "shell"?)`, `missing required field "name"`, `must be one of short, longRunning, stopper`.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { RESERVED_FIELDS } from './schema.js';
import type { PathSegment } from './source.js';
import { didYouMean } from './suggest.js';

export interface RawProblem {
  path: PathSegment[];
  message: string;
  /** Locate at the key (unknown fields) rather than at the value. */
  atKey?: boolean;
}

export function schemaProblems(schema: TSchema, value: unknown, base: PathSegment[] = []): RawProblem[] {
  const out: RawProblem[] = [];
  const required = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    const path = [...base, ...parsePointer(e.path)];
    const key = path.join('\u0000');
    if (e.type === ValueErrorType.ObjectRequiredProperty) required.add(key);
    else if (required.has(key)) continue; // "missing" already says it; "expected string" adds nothing
    out.push(...describe(e, path));
  }
  return out;
}

function describe(e: ValueError, path: PathSegment[]): RawProblem[] {
  const last = path[path.length - 1];
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const field = String(last);
      if (field in RESERVED_FIELDS) {
        return [{ path, atKey: true, message: `"${field}" is not supported yet (a later version adds it)` }];
      }
      const parentSchema = e.schema as { properties?: Record<string, unknown> };
      const known = Object.keys(parentSchema.properties ?? {});
      return [{ path, atKey: true, message: `unknown field "${field}"${didYouMean(field, known)}` }];
    }
    case ValueErrorType.ObjectRequiredProperty:
      return [{ path: path.slice(0, -1), message: `missing required field "${String(last)}"` }];
    case ValueErrorType.Union:
      return describeUnion(e, path);
    case ValueErrorType.String:
      return [
        {
          path,
          message: `must be a string${typeof e.value === 'number' ? ` (quote it: "${e.value}")` : ''}`,
        },
      ];
    case ValueErrorType.Number:
      return [{ path, message: 'must be a number' }];
    case ValueErrorType.Integer:
      return [{ path, message: 'must be a whole number' }];
    case ValueErrorType.Boolean:
      return [{ path, message: 'must be true or false' }];
    case ValueErrorType.Array:
      return [{ path, message: 'must be a list' }];
    case ValueErrorType.Object:
      return [{ path, message: 'must be a mapping (key: value)' }];
    case ValueErrorType.ArrayMinItems:
      return [{ path, message: 'must not be empty' }];
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return [{ path, message: `must be at least ${(e.schema as { minimum?: number }).minimum ?? 0}` }];
    case ValueErrorType.StringPattern:
      return [
        { path, message: `"${String(e.value)}" is not a valid name: use letters, digits, "_", "." and "-"` },
      ];
    case ValueErrorType.Literal:
      return [{ path, message: `must be ${JSON.stringify((e.schema as { const?: unknown }).const)}` }];
    default:
      return [{ path, message: e.message.toLowerCase() }];
  }
}

/** A union either lists literals (an enum) or alternatives of different shapes: pick the one whose
 * shape the value has and report its errors, so that `retries: {cout: 1}` says "unknown field". */
function describeUnion(e: ValueError, path: PathSegment[]): RawProblem[] {
  const variants = ((e.schema as { anyOf?: TSchema[] }).anyOf ?? []) as TSchema[];
  const literals = variants
    .filter((v) => 'const' in v)
    .map((v) => (v as unknown as { const: unknown }).const);
  if (literals.length === variants.length && literals.length > 0) {
    return [{ path, message: `must be one of ${literals.join(', ')} (got ${JSON.stringify(e.value)})` }];
  }
  const shape = shapeOf(e.value);
  const match = variants.find((v) => kindShape(v) === shape);
  if (match) return schemaProblems(match, e.value, path);
  const shapes = [...new Set(variants.map(kindShape))].join(' or ');
  return [{ path, message: `must be ${shapes}` }];
}

function shapeOf(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'true or false';
  return 'a value';
}

function kindShape(s: TSchema): string {
  switch (s[Kind]) {
    case 'Array':
      return 'a list';
    case 'Object':
    case 'Record':
      return 'a mapping';
    case 'Number':
    case 'Integer':
      return 'a number';
    case 'String':
      return 'a string';
    case 'Boolean':
      return 'true or false';
    default:
      return 'a value';
  }
}

function parsePointer(pointer: string): PathSegment[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}
