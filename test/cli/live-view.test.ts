import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LiveView, type ViewMode } from '../../src/cli/live-view.js';
import { loadSpec } from '../../src/spec/index.js';
import { type Harness, harness } from '../helpers/embedded.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.dispose();
});

const SPEC = `name: view
nodeAssignments: [{name: srv}, {name: cli}]
pipelines: [{stages: [svc]}, {stages: [work]}]
stages:
  - name: svc
    type: longRunning
    selectors: [{name: srv}]
    tasks: [{name: server, longRunning: true, shell: {command: "echo serving; exec sleep 1000"}, ready: {tasks: [{shell: {command: "true"}}]}}]
  - name: work
    selectors: [{name: cli}]
    tasks: [{name: client, shell: {command: "echo working hard; sleep 0.3"}}]
`;

/** Cursor up N lines, to the line's start, clear to the end of the screen. */
const REDRAW = new RegExp(`${String.fromCharCode(27)}\\[\\d+A\\r${String.fromCharCode(27)}\\[J`);

async function watch(mode: ViewMode): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => {
    text += b.toString();
  });
  const view = new LiveView({
    store: h.store,
    bus: h.bus,
    out,
    mode,
    style: { color: false },
    columns: () => 100,
    refreshMs: 20,
  });
  view.listen();
  const job = await h.coordinator.submit({ spec: loadSpec(SPEC).spec, rawSpec: SPEC });
  view.follow(job.id);
  await h.coordinator.waitForEnd(job.id);
  await view.stop();
  return text;
}

describe('the live view of jobhub run', () => {
  it('on a terminal, redraws a tree of pipelines, stages, nodes and tasks in place', async () => {
    const text = await watch('tty');
    expect(text).toMatch(REDRAW); // moved up and cleared: redrawn in place
    expect(text).toContain('working hard'); // the last log line of a running task
    const frames = text.split(REDRAW);
    const last = frames.at(-1) ?? '';
    expect(last.split('\n').map((l) => l.trimEnd())).toEqual([
      expect.stringMatching(/^✓ job \d+ view {2}succeeded {2}\d/),
      '  pipeline pipeline-0',
      expect.stringMatching(/^ {4}■ svc {2}stopped/),
      '        srv 127.0.0.1',
      expect.stringMatching(/^ {10}■ server {2}stopped +\d.*stopped: job finished: every stage is done$/),
      '  pipeline pipeline-1',
      expect.stringMatching(/^ {4}✓ work {2}succeeded/),
      '        cli 127.0.0.1',
      expect.stringMatching(/^ {10}✓ client {2}succeeded +\d/),
      '',
    ]);
  });

  it('otherwise prints one line per event, from the submission on', async () => {
    const lines = (await watch('lines')).trim().split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} job \d+ submitted$/);
    expect(lines).toContainEqual(expect.stringMatching(/task svc\/srv\/server ready$/));
    expect(lines.at(-1)).toMatch(/job \d+ succeeded$/);
  });

  it('with --json, one event per line', async () => {
    const events = (await watch('json'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(events[0]?.type).toBe('job.submitted');
    expect(events.some((e) => e.type === 'stage.status')).toBe(true);
  });
});
