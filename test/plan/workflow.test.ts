/**
 * Expanding `use` stages (seed 004) with templates from a resolver: names and needs of the
 * sub-graphs, nested uses with their own values, and a cycle in the stored templates (which a push
 * refuses, but a store may hold from before) refused at submission, naming it.
 */
import { describe, expect, it } from 'vitest';
import { expandWorkflow, type TemplateResolver } from '../../src/plan/workflow.js';
import { loadSpec } from '../../src/spec/index.js';

const resolver =
  (templates: Record<string, string>): TemplateResolver =>
  async (name) => {
    const text = templates[name];
    return text === undefined ? undefined : { name, version: 1, text };
  };

const expand = (text: string, templates: Record<string, string>, template?: string) =>
  expandWorkflow(loadSpec(text).spec, {}, resolver(templates), template ? { template } : {});

describe('workflow expansion', () => {
  it('nests uses with their own values and wires first and last stages', async () => {
    const leaf =
      'name: leaf\nparams: {n: {type: number}}\nstages:\n  - {name: s, tasks: [{shell: {command: "echo {{.Params.n}}"}}]}\n';
    const mid =
      'name: mid\nparams: {m: {type: number}}\nstages:\n  - {name: one, use: leaf, params: {n: "{{.Params.m}}"}}\n  - {name: two, needs: [one], tasks: [{shell: {command: "true"}}]}\n';
    const spec = await expand(
      'name: w\nstages:\n  - {name: first, tasks: [{shell: {command: "true"}}]}\n  - {name: x, use: mid, needs: [first], params: {m: 7}}\n  - {name: last, needs: [x], tasks: [{shell: {command: "true"}}]}\n',
      { leaf, mid },
    );
    expect(spec.stages.map((s) => [s.name, s.needs, s.params ?? null])).toEqual([
      ['first', [], null],
      ['x.one.s', ['first'], { n: 7 }],
      ['x.two', ['x.one.s'], { m: 7 }],
      ['last', ['x.two'], null],
    ]);
    expect(spec.uses).toEqual([
      { stage: 'x', template: 'mid', version: 1 },
      { stage: 'x.one', template: 'leaf', version: 1 },
    ]);
  });

  it('refuses a cycle among stored templates at submission, naming it', async () => {
    const p = 'name: p\nstages:\n  - {name: s, use: q}\n';
    const q = 'name: q\nstages:\n  - {name: s, use: p}\n';
    await expect(expand(p, { p, q }, 'p')).rejects.toThrow(/cycle: p -> q -> p/);
    await expect(expand('name: w\nstages:\n  - {name: s, use: p}\n', { p, q })).rejects.toThrow(
      /cycle: p -> q -> p/,
    );
  });
});
