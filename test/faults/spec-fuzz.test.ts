/**
 * Property-based fuzzing of the spec parser: whatever text comes in (random YAML-ish text, random
 * JSON values, mutations of a valid example), validateSpecText answers located problems and never
 * throws, and loadSpec throws nothing but SpecInvalidError. Sizes are bounded, so nothing can hang.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type ErrorDetail, JobhubError, SpecInvalidError } from '../../src/core/errors.js';
import { buildPlan } from '../../src/plan/planner.js';
import { loadSpec, MAX_PROBLEMS, validateSpecText } from '../../src/spec/index.js';
import { findCycle } from '../../src/spec/resolve.js';
import { recordFaults } from './support/fault-report.js';

const EXAMPLE = readFileSync(new URL('../../examples/benchmark.yaml', import.meta.url), 'utf8');
const EXAMPLE_VALUE = parse(EXAMPLE) as Record<string, unknown>;

/** Runs of each property; the whole file stays around a few seconds on two cores. */
const RUNS = Number(process.env.JOBHUB_FUZZ_RUNS ?? 400);
/** A fixed seed, so a run is reproducible; set JOBHUB_FUZZ_SEED to explore others. */
const SEED = Number(process.env.JOBHUB_FUZZ_SEED ?? 20261124);

function checkProblems(problems: ErrorDetail[], isText: boolean): void {
  for (const p of problems) {
    expect(typeof p.path).toBe('string');
    expect(typeof p.message).toBe('string');
    expect(p.message.length).toBeGreaterThan(0);
    if (isText) {
      expect(Number.isInteger(p.line), JSON.stringify(p)).toBe(true);
      expect(Number.isInteger(p.column), JSON.stringify(p)).toBe(true);
      expect(p.line).toBeGreaterThanOrEqual(1);
      expect(p.column).toBeGreaterThanOrEqual(1);
    }
  }
}

/** The property of every input: typed outcome, located problems, and the two entry points agree. */
/** Specs tried, for the fault suite's summary (a parser has no 5xx: a failure fails the test). */
let tried = 0;
afterAll(() => recordFaults({ kind: 'fuzzed specs', injected: tried }));

function probe(text: string): void {
  tried++;
  const problems = validateSpecText(text);
  checkProblems(problems, true);
  try {
    loadSpec(text, 'fuzz.yaml');
    expect(problems).toEqual([]);
  } catch (err) {
    expect(err).toBeInstanceOf(JobhubError);
    expect(err).toBeInstanceOf(SpecInvalidError);
    const e = err as SpecInvalidError;
    expect(e.code).toBe('spec_invalid');
    expect(e.problems.length).toBeGreaterThan(0);
    checkProblems(e.problems, true);
  }
}

/** Characters that break parsers: YAML indicators, control characters, odd unicode. */
const oddChar = fc.constantFrom(
  ':',
  '-',
  '?',
  '#',
  '&',
  '*',
  '!',
  '|',
  '>',
  "'",
  '"',
  '%',
  '@',
  '`',
  '{',
  '}',
  '[',
  ']',
  ',',
  '\n',
  '\t',
  '\r',
  ' ',
  '\u0000',
  '\u0007',
  '\u00a0',
  '\u2028',
  '\u200b',
  '\ufeff',
  '\ud800',
  '\udfff',
  '😀',
  'é',
  '\u202e',
  '<<',
  '---',
  '...',
  '~',
  'null',
  'true',
  '0x1F',
  '1e400',
  '.inf',
);
const yamlishText = fc
  .array(fc.oneof(oddChar, fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 8 })), {
    maxLength: 80,
  })
  .map((parts) => parts.join(''));

/** Lines that look like spec lines, indented at random: near-valid YAML. */
const specishText = fc
  .array(
    fc.tuple(
      fc.nat({ max: 8 }),
      fc.constantFrom('name', 'stages', 'tasks', 'shell', 'command', '- name', 'labels', 'locks', 'params'),
      fc.oneof(
        fc.constant(''),
        fc.string({ maxLength: 12 }),
        fc.constantFrom(' &a x', ' *a', ' !!binary x', ' [', ' {'),
      ),
    ),
    { maxLength: 30 },
  )
  .map((lines) => lines.map(([ind, key, val]) => `${' '.repeat(ind)}${key}:${val}`).join('\n'));

const hugeNumber = fc.constantFrom(
  Number.MAX_SAFE_INTEGER + 2,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  1e308,
  -0,
  2 ** 53,
  1e-320,
);
const leaf = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  hugeNumber,
  fc.boolean(),
  fc.constant(null),
);
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 5 }),
})).value;

/** A path into the example's value: a list of keys and indexes that exist. */
function pathsOf(v: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []) {
  out.push(prefix);
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) pathsOf(x, [...prefix, i], out);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) pathsOf(x, [...prefix, k], out);
  }
  return out;
}
const EXAMPLE_PATHS = pathsOf(EXAMPLE_VALUE).filter((p) => p.length > 0);

type Mutation =
  | { kind: 'drop'; at: number }
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'duplicate'; at: number }
  | { kind: 'nest'; at: number; depth: number }
  | { kind: 'rename'; at: number; name: string };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: jsonValue }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('nest' as const), at: fc.nat(), depth: fc.integer({ min: 1, max: 200 }) }),
  fc.record({
    kind: fc.constant('rename' as const),
    at: fc.nat(),
    name: fc.string({ unit: 'grapheme', maxLength: 10 }),
  }),
);

function mutate(base: unknown, muts: Mutation[]): unknown {
  const root = structuredClone(base) as Record<string, unknown>;
  for (const m of muts) {
    const path = EXAMPLE_PATHS[m.at % EXAMPLE_PATHS.length] ?? [];
    let parent: unknown = root;
    for (const k of path.slice(0, -1)) {
      if (parent === null || typeof parent !== 'object') break;
      parent = (parent as Record<string | number, unknown>)[k];
    }
    if (parent === null || typeof parent !== 'object') continue;
    const p = parent as Record<string | number, unknown>;
    const key = path[path.length - 1] as string | number;
    if (!(key in p)) continue;
    if (m.kind === 'drop') {
      if (Array.isArray(p)) p.splice(Number(key), 1);
      else delete p[key];
    } else if (m.kind === 'replace') p[key] = m.value;
    else if (m.kind === 'duplicate') {
      if (Array.isArray(p)) p.splice(Number(key), 0, structuredClone(p[key]));
      else p[`${key}`] = structuredClone(p[key]);
    } else if (m.kind === 'nest') {
      let v: unknown = p[key];
      for (let i = 0; i < m.depth; i++) v = i % 2 === 0 ? [v] : { v };
      p[key] = v;
    } else if (!Array.isArray(p)) {
      p[m.name] = p[key];
      delete p[key];
    }
  }
  return root;
}

describe('the spec parser under fuzzing', () => {
  it('answers located problems for random YAML-ish text', () => {
    fc.assert(fc.property(yamlishText, probe), { numRuns: RUNS * 2, seed: SEED });
  });

  it('answers located problems for near-valid YAML lines', () => {
    fc.assert(fc.property(specishText, probe), { numRuns: RUNS * 2, seed: SEED });
  });

  it('answers located problems for random JSON values, as JSON and as YAML', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        probe(JSON.stringify(v) ?? 'null');
        probe(stringify(v));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('answers located problems for mutations of a valid example', () => {
    expect(validateSpecText(EXAMPLE)).toEqual([]);
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (muts, asJson) => {
        const v = mutate(EXAMPLE_VALUE, muts);
        probe(asJson ? JSON.stringify(v) : stringify(v, { aliasDuplicateObjects: false }));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('answers located problems for textual mutations of the example: duplicated keys, cut lines', () => {
    const lines = EXAMPLE.split('\n');
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: fc.nat({ max: lines.length - 1 }),
            op: fc.constantFrom('dup', 'cut', 'indent', 'trunc'),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        (ops) => {
          const ls = [...lines];
          for (const { at, op } of ops) {
            const i = at % ls.length;
            const line = ls[i] ?? '';
            if (op === 'dup') ls.splice(i, 0, line);
            else if (op === 'cut') ls.splice(i, 1);
            else if (op === 'indent') ls[i] = ` ${line}`;
            else ls[i] = line.slice(0, Math.floor(line.length / 2));
          }
          probe(ls.join('\n'));
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });
});

describe('regressions found by the fuzzer', () => {
  it('an alias with no anchor is a located problem, not a thrown ReferenceError', () => {
    const problems = validateSpecText('name: ok\nstages: *a\n');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: '', line: 2, column: 9 });
    expect(problems[0]?.message).toMatch(/^invalid alias: .*anchor/);
    expect(() => loadSpec('name: *a')).toThrow(SpecInvalidError);
  });

  it('too many aliases (a billion laughs) is a located problem, not a thrown ReferenceError', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const problems = validateSpecText(lines.join('\n'));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/^invalid alias: /);
    expect(problems[0]?.line).toBeGreaterThanOrEqual(1);
  });
});

/** `n` stages, each needing the one before (or `need(i)` when given). */
function chain(
  n: number,
  need: (i: number) => string | undefined = (i) => (i > 0 ? `s${i - 1}` : undefined),
): string {
  const stages = Array.from({ length: n }, (_, i) => {
    const dep = need(i);
    return `{name: s${i}, tasks: [{name: t, shell: {command: "true"}}]${dep ? `, needs: [${dep}]` : ''}}`;
  });
  return `name: chain\nstages: [${stages.join(',')}]\n`;
}

describe('regressions found by the fuzzer: big specs', () => {
  it('a chain of 20000 stages is checked without overflowing the stack (findCycle was recursive)', () => {
    const graph = new Map(Array.from({ length: 50_000 }, (_, i) => [`s${i}`, i > 0 ? [`s${i - 1}`] : []]));
    expect(findCycle(graph)).toBeUndefined();
    graph.set('s0', ['s49999']);
    expect(findCycle(graph)?.length).toBe(50_001);
    expect(findCycle(new Map([['a', ['a']]]))).toEqual(['a', 'a']);
    expect(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['b']],
        ]),
      ),
    ).toEqual(['b', 'c', 'b']);
    const text = chain(20_000, (i) => (i > 0 ? `s${i - 1}` : 'nope'));
    const problems = validateSpecText(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/^unknown stage "nope"; stages are: s0, s1, .*… \(19980 more\)$/);
  });

  it('thousands of unknown names: a bounded answer, in bounded time (was 6 s and 108 MB for 4000)', () => {
    const started = Date.now();
    const problems = validateSpecText(chain(4000, (i) => `q${i}`));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    for (const p of problems) expect(p.message.length).toBeLessThan(500);
    expect(problems.at(-1)).toMatchObject({ path: 'stages[100].needs[0]', line: 2 });
    expect(problems.at(-1)?.message).toBe('… and 3900 more problems from here');
    // Small specs still get their suggestion.
    expect(validateSpecText(chain(3, (i) => (i === 2 ? 's00' : undefined)))[0]?.message).toMatch(
      /did you mean "s0"/,
    );
  });

  it('the plan of a chain of 20000 stages is built in linear time, without recursion (was 27 s)', () => {
    const { spec } = loadSpec(chain(20_000));
    const started = Date.now();
    const plan = buildPlan(spec, null);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(plan.pipelines).toHaveLength(20_000);
    expect(plan.pipelines.at(-1)?.name).toBe('level-19999');
    expect(plan.pipelines.at(-1)?.stages[0]?.name).toBe('s19999');
  });
});
