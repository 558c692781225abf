/**
 * A nodes file for `jobhub plan --nodes`: the cluster to plan against, without a server.
 * `- {name: db1, role: database, ip: 10.0.0.5, labels: {disk: ssd}, capacity: {cpus: 8, memory: 16Gi}}`
 */
import { type Static, Type } from '@sinclair/typebox';
import { type ErrorDetail, SpecInvalidError } from '../core/errors.js';
import { parseMemoryMb } from '../spec/normalize.js';
import { schemaProblems } from '../spec/schema-errors.js';
import { formatPath, parseSource } from '../spec/source.js';
import type { CandidateNode } from './scheduler.js';

const NodeEntry = Type.Object(
  {
    name: Type.String(),
    id: Type.Optional(Type.String()),
    role: Type.Optional(Type.String()),
    ip: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    state: Type.Optional(
      Type.Union(['idle', 'busy', 'draining', 'down', 'left'].map((s) => Type.Literal(s))),
    ),
    capacity: Type.Optional(
      Type.Object(
        {
          cpus: Type.Optional(Type.Number()),
          memory: Type.Optional(Type.Union([Type.Number(), Type.String()])),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const NodesFile = Type.Array(NodeEntry);
type NodesFileInput = Static<typeof NodesFile>;

export function parseNodesFile(text: string, source: string): CandidateNode[] {
  const parsed = parseSource(text);
  const problems: ErrorDetail[] = [...parsed.syntaxErrors];
  if (problems.length === 0) {
    for (const p of schemaProblems(NodesFile, parsed.value)) {
      const pos = p.atKey ? parsed.map.keyAt(p.path) : parsed.map.valueAt(p.path);
      problems.push({
        path: formatPath(p.path),
        message: p.message,
        ...(pos ? { line: pos.line, column: pos.column } : {}),
      });
    }
  }
  if (problems.length > 0) throw new SpecInvalidError(problems, source);
  return (parsed.value as NodesFileInput).map((n, i) => ({
    id: n.id ?? n.name,
    name: n.name,
    role: n.role ?? 'any',
    labels: n.labels ?? {},
    ip: n.ip ?? `10.0.0.${i + 1}`,
    state: (n.state as CandidateNode['state'] | undefined) ?? 'idle',
    free: { cpus: n.capacity?.cpus ?? 1, memoryMb: parseMemoryMb(n.capacity?.memory) ?? 1024 },
  }));
}
