/**
 * Reading a spec's text: YAML or JSON (JSON is parsed by the same YAML parser, so both get line and
 * column positions). A `SourceMap` turns a path in the parsed value into a position in the text.
 */
import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { ErrorDetail } from '../core/errors.js';

export type PathSegment = string | number;

export interface Position {
  line: number;
  column: number;
}

export interface ParsedSource {
  value: unknown;
  map: SourceMap;
  /** YAML syntax errors; when non-empty, `value` is not to be trusted. */
  syntaxErrors: ErrorDetail[];
}

export class SourceMap {
  constructor(
    private readonly root: Node | null,
    private readonly lines: LineCounter,
  ) {}

  /** Position of the value at `path`, or of its nearest existing ancestor. */
  valueAt(path: readonly PathSegment[]): Position | undefined {
    const node = this.nearest(path);
    return node ? this.position(node) : undefined;
  }

  /** Position of the key of the mapping entry at `path` (for "unknown field" errors). */
  keyAt(path: readonly PathSegment[]): Position | undefined {
    const parent = this.nodeAt(path.slice(0, -1));
    const key = path[path.length - 1];
    if (parent && isMap(parent)) {
      for (const pair of parent.items) {
        const k = pair.key as Node | null;
        if (k && 'value' in k && String((k as { value: unknown }).value) === String(key))
          return this.position(k);
      }
    }
    return this.valueAt(path);
  }

  private position(node: Node): Position | undefined {
    const offset = node.range?.[0];
    if (offset === undefined) return undefined;
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  private nodeAt(path: readonly PathSegment[]): Node | null {
    let node: Node | null = this.root;
    for (const seg of path) {
      if (node && isMap(node)) {
        const pair = node.items.find((p) => {
          const k = p.key as { value?: unknown } | null;
          return k !== null && String(k.value) === String(seg);
        });
        node = (pair?.value as Node | null | undefined) ?? null;
      } else if (node && isSeq(node) && typeof seg === 'number') {
        node = (node.items[seg] as Node | undefined) ?? null;
      } else {
        return null;
      }
    }
    return node;
  }

  private nearest(path: readonly PathSegment[]): Node | null {
    for (let n = path.length; n >= 0; n--) {
      const node = this.nodeAt(path.slice(0, n));
      if (node) return node;
    }
    return null;
  }
}

/** Formats a path the way users write it: `stages[2].tasks[0].shell`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

export function parseSource(text: string): ParsedSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const syntaxErrors: ErrorDetail[] = doc.errors.map((e) => {
    const pos = lines.linePos(e.pos[0]);
    return { path: '', message: e.message.split('\n')[0] ?? e.message, line: pos.line, column: pos.col };
  });
  let value: unknown;
  if (syntaxErrors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // An alias with no anchor before it (`*a`), or too many aliases: the parser throws while
      // building the value. That is a problem of the text, located at the offending alias.
      syntaxErrors.push(aliasProblem(doc, lines, err));
    }
  }
  return { value, map: new SourceMap(doc.contents as Node | null, lines), syntaxErrors };
}

function aliasProblem(doc: Document, lines: LineCounter, err: unknown): ErrorDetail {
  const message = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
  let offset: number | undefined;
  let first: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      const at = node.range?.[0];
      if (first === undefined) first = at;
      if (node.resolve(doc) === undefined) {
        offset = at;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  const pos = lines.linePos(offset ?? first ?? 0);
  return { path: '', message: `invalid alias: ${message}`, line: pos.line, column: pos.col };
}
