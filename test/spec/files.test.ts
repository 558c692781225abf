/** The file fields of a spec: inputs, workspace, outputs, keepWorkdir. */
import { describe, expect, it } from 'vitest';
import { loadSpec, validateSpecText } from '../../src/spec/index.js';

function problems(yaml: string): string[] {
  return validateSpecText(yaml).map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
}

describe('spec: files', () => {
  it('accepts inputs, a workspace, outputs and keepWorkdir, and normalizes them', () => {
    const text = `name: t
workspace: compendium
inputs:
  - job:12:outputs/result.csv:data/in.csv
  - from: job:7:/data/big.Rdata
  - name: params.json
  - name: raw.txt
    to: in/raw.txt
  - notes.md
stages:
  - name: s
    tasks:
      - shell: {command: "true"}
        outputs: ["*.csv", "results/**"]
        keepWorkdir: true
`;
    expect(problems(text)).toEqual([]);
    const { spec } = loadSpec(text);
    expect(spec.workspace).toBe('compendium');
    expect(spec.inputs).toEqual([
      { kind: 'job', jobId: 12, source: 'outputs/result.csv', to: 'data/in.csv' },
      { kind: 'job', jobId: 7, source: 'data/big.Rdata', to: 'big.Rdata' },
      { kind: 'upload', name: 'params.json', to: 'params.json' },
      { kind: 'upload', name: 'raw.txt', to: 'in/raw.txt' },
      { kind: 'upload', name: 'notes.md', to: 'notes.md' },
    ]);
    const task = spec.stages[0]?.tasks[0];
    expect(task?.outputs).toEqual(['*.csv', 'results/**']);
    expect(task?.keepWorkdir).toBe(true);
  });

  it('leaves specs without file fields as they were', () => {
    const { spec } = loadSpec('name: t\nstages:\n  - name: s\n    tasks: [{shell: {command: x}}]\n');
    expect('inputs' in spec).toBe(false);
    expect('workspace' in spec).toBe(false);
    expect(Object.keys(spec.stages[0]?.tasks[0] ?? {})).not.toContain('outputs');
  });

  it('reports bad descriptors, escaping destinations and empty globs, each at its place', () => {
    const p = problems(`name: t
inputs:
  - job:abc:x:y
  - from: job:1
  - from: job:1:out.txt:/etc/passwd
  - from: job:1:../../secret:x
  - name: ok.txt
    to: ../outside.txt
  - ERC:lnj82:/a:/b
  - {name: a.txt, from: "job:1:a"}
  - {to: x}
  - name: /abs.txt
  - name: dup.txt
  - job:3:x:dup.txt
stages:
  - name: s
    tasks:
      - shell: {command: "true"}
        outputs: ["", "../up/*.log", "/var/log/*"]
      - stopper: {stage: s, all: true}
        outputs: [x]
`);
    expect(p).toEqual(
      expect.arrayContaining([
        '3:5 inputs[0]: "job:abc:x:y": "abc" is not a job id',
        '4:11 inputs[1].from: "job:1" is not a file descriptor: use job:ID:source:destination',
        '5:11 inputs[2].from: "job:1:out.txt:/etc/passwd": the destination "/etc/passwd" is an absolute path; give a path relative to the working directory',
        '6:11 inputs[3].from: "job:1:../../secret:x": the source "../../secret" contains ".." (a path may not leave its folder)',
        '8:9 inputs[4].to: the destination "../outside.txt" contains ".." (a path may not leave its folder)',
        '9:5 inputs[5]: "ERC:lnj82:/a:/b": ERC descriptors are not supported; push the compendium as a workspace instead',
        '10:5 inputs[6]: an input is either from another job (from) or an uploaded file (name), not both',
        '11:5 inputs[7]: say which file: from: job:ID:source:destination, or name: <uploaded file>',
        '12:11 inputs[8].name: the input name "/abs.txt" is an absolute path; give a path relative to the working directory',
        '14:5 inputs[10]: two inputs go to "dup.txt" (the first is inputs[9])',
        '19:19 stages[0].tasks[0].outputs[0]: an output glob must not be empty',
        '19:23 stages[0].tasks[0].outputs[1]: the output glob "../up/*.log" contains ".." (a path may not leave its folder)',
        '19:38 stages[0].tasks[0].outputs[2]: the output glob "/var/log/*" is an absolute path; give a path relative to the working directory',
      ]),
    );
    expect(p.some((x) => x.includes('a stopper task runs nothing, so it has no outputs'))).toBe(true);
  });

  it('checks the types of the file fields', () => {
    const p = problems(`name: t
workspace: ""
inputs: x
stages:
  - name: s
    tasks:
      - shell: {command: "true"}
        outputs: "*.csv"
        keepWorkdir: yes
`);
    expect(p).toContain('3:9 inputs: must be a list');
    expect(p).toContain('8:18 stages[0].tasks[0].outputs: must be a list');
    expect(p).toContain('9:22 stages[0].tasks[0].keepWorkdir: must be true or false');
    expect(p.some((x) => x.startsWith('2:12 workspace:'))).toBe(true);
  });
});
