/** Parameters: declarations and references checked with the spec, values checked at submission. */
import { describe, expect, it } from 'vitest';
import { JobhubError } from '../../src/core/errors.js';
import { loadSpec, validateSpecText } from '../../src/spec/index.js';
import {
  applyParams,
  paramEnvironment,
  parseParamArgs,
  renderParams,
  resolveLockNames,
  resolveParams,
} from '../../src/spec/params.js';

function problems(yaml: string): string[] {
  return validateSpecText(yaml).map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
}

const SPEC = `name: bench
params:
  cluster: {type: enum, values: [lab, prod], required: true, description: where}
  runs: {type: number, default: 3}
  verbose: {type: boolean, default: false}
  tag: {default: v1}
nodeAssignments:
  - name: db
    role: "{{.Params.cluster}}-db"
    selectors: [{labels: {env: "{{.Params.cluster}}"}}]
locks: ["env-{{.Params.cluster}}"]
stages:
  - name: run
    tasks:
      - shell: {command: "echo {{.Params.runs}} {{ .Params.tag }}"}
        env: {WHERE: "{{.Params.cluster}}"}
`;

/** The problems a submission's values have, as `path: message`. */
function valueErrors(given: Record<string, unknown>): string[] {
  try {
    resolveParams(loadSpec(SPEC).spec, given);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(JobhubError);
    const e = err as JobhubError;
    expect(e.code).toBe('bad_request');
    return (e.details as Array<{ path: string; message: string }>).map((d) => `${d.path}: ${d.message}`);
  }
}

describe('params: the spec', () => {
  it('accepts declarations and references to them', () => {
    expect(problems(SPEC)).toEqual([]);
    expect(loadSpec(SPEC).spec.params).toEqual([
      { name: 'cluster', type: 'enum', values: ['lab', 'prod'], required: true, description: 'where' },
      { name: 'runs', type: 'number', default: 3, required: false },
      { name: 'verbose', type: 'boolean', default: false, required: false },
      { name: 'tag', type: 'string', default: 'v1', required: false },
    ]);
  });

  it('reports a reference to an undeclared parameter at its line:column, with a suggestion', () => {
    const text = SPEC.replace('{{.Params.runs}}', '{{.Params.rnus}}');
    expect(problems(text)).toEqual([
      '15:26 stages[0].tasks[0].shell.command: unknown parameter "rnus" in {{.Params.rnus}} (did you mean "runs"?); declared: cluster, runs, verbose, tag',
    ]);
  });

  it('checks references in selectors, roles and lock names too', () => {
    const text = `name: t
nodeAssignments: [{name: a, role: "{{.Params.r}}"}]
locks: ["env-{{.Params.e}}"]
stages:
  - name: s
    selectors: [{labels: {k: "{{.Params.k}}"}}]
    tasks: [{shell: {command: x}}]
`;
    expect(problems(text)).toEqual([
      '2:35 nodeAssignments[0].role: unknown parameter "r" in {{.Params.r}}; the spec declares no params',
      '3:9 locks[0]: unknown parameter "e" in {{.Params.e}}; the spec declares no params',
      '6:30 stages[0].selectors[0].labels.k: unknown parameter "k" in {{.Params.k}}; the spec declares no params',
    ]);
  });

  it('checks declarations: names, types, enum values, defaults', () => {
    const text = `name: t
params:
  bad-name: {}
  e: {type: enum}
  n: {type: number, default: "x"}
  s: {type: string, values: [a]}
  f: {type: float}
  v: {type: enum, values: [a, b], default: c}
stages:
  - name: s
    tasks: [{shell: {command: x}}]
`;
    const p = problems(text);
    expect(p).toContain(
      '3:3 params.bad-name: "bad-name" is not a valid parameter name: a letter, then letters, digits and _',
    );
    expect(p).toContain('4:6 params.e: an enum parameter needs its values');
    expect(p).toContain('5:30 params.n.default: the default must be a number');
    expect(p).toContain('6:29 params.s.values: values are for enum parameters, not string');
    expect(p.some((x) => x.startsWith('7:') && x.includes('params.f.type'))).toBe(true);
    expect(p).toContain('8:44 params.v.default: the default must be one of a, b');
  });
});

describe('params: values at submission', () => {
  it('types the given values and fills in defaults', () => {
    expect(resolveParams(loadSpec(SPEC).spec, { cluster: 'lab', runs: '10', verbose: 'yes' })).toEqual({
      cluster: 'lab',
      runs: 10,
      verbose: true,
      tag: 'v1',
    });
  });

  it('names every parameter that is missing, unknown, of the wrong type or not in the enum', () => {
    expect(valueErrors({})).toEqual(['params.cluster: is required']);
    expect(valueErrors({ cluster: 'lab', clutser: 'x' })).toEqual([
      'params.clutser: unknown parameter; the spec declares cluster, runs, verbose, tag',
    ]);
    expect(valueErrors({ cluster: 'dev', runs: 'many', verbose: 'maybe' })).toEqual([
      'params.cluster: must be one of lab, prod, got "dev"',
      'params.runs: must be a number, got "many"',
      'params.verbose: must be true or false, got "maybe"',
    ]);
  });

  it('the error message names the parameter', () => {
    expect(() => resolveParams(loadSpec(SPEC).spec, {})).toThrow(
      'invalid parameters: params.cluster: is required',
    );
  });

  it('parses name=value arguments, refusing others', () => {
    expect(parseParamArgs(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseParamArgs(['novalue'])).toThrow('expected name=value');
    expect(valueErrors({ ...parseParamArgs(['__proto__=x']), cluster: 'lab' })).toEqual([
      'params.__proto__: unknown parameter; the spec declares cluster, runs, verbose, tag',
    ]);
  });

  it('binds values into selectors, roles and lock names; commands keep their references for dispatch', () => {
    const { spec, params } = applyParams(loadSpec(SPEC).spec, { cluster: 'prod' });
    expect(spec.nodeAssignments[0]?.role).toBe('prod-db');
    expect(spec.nodeAssignments[0]?.selectors[0]?.labels).toEqual({ env: 'prod' });
    expect(spec.locks).toEqual([{ name: 'env-prod' }]);
    const task = spec.stages[0]?.tasks[0];
    expect(task?.driver === 'shell' ? task.command.command : '').toBe(
      'echo {{.Params.runs}} {{ .Params.tag }}',
    );
    expect(paramEnvironment(params)).toEqual({
      JOBHUB_PARAM_CLUSTER: 'prod',
      JOBHUB_PARAM_RUNS: '3',
      JOBHUB_PARAM_VERBOSE: 'false',
      JOBHUB_PARAM_TAG: 'v1',
    });
  });

  it('renders only parameter references, and a value is never expanded again', () => {
    expect(renderParams('{{.Params.a}} {{.Nodes.x.Ip}}', { a: '{{.Secrets.K}}' })).toBe(
      '{{.Secrets.K}} {{.Nodes.x.Ip}}',
    );
    expect(resolveLockNames([{ name: 'env-{{.Params.a}}', mode: 'shared' }], { a: 'lab' })).toEqual([
      { name: 'env-lab', mode: 'shared' },
    ]);
  });
});
