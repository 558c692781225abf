import { appendFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/agent/outbox.js';
import type { AgentReport } from '../../src/agent/protocol.js';
import { tempDir } from '../helpers/embedded.js';

const report = (n: number): AgentReport => ({
  type: 'task.ready',
  ref: { jobId: 1, taskId: n, attempt: 1 },
  ts: n,
});
const seqs = (box: Outbox, after: number) => [...box.after(after)].map((r) => r.seq);

describe('the agent outbox', () => {
  it('numbers reports from 1 and gives back those after a seq, in order', () => {
    const box = Outbox.open(tempDir('outbox-'));
    for (let i = 1; i <= 5; i++) expect(box.append(report(i))).toBe(i);
    expect(seqs(box, 0)).toEqual([1, 2, 3, 4, 5]);
    expect(seqs(box, 3)).toEqual([4, 5]);
    expect([...box.after(4)][0]?.report).toEqual(report(5));
  });

  it('keeps unacknowledged reports on disk across a restart, and drops acknowledged segments', () => {
    const dir = tempDir('outbox-');
    const box = Outbox.open(dir, { segmentBytes: 200 });
    for (let i = 1; i <= 30; i++) box.append(report(i));
    const segments = readdirSync(dir).length;
    expect(segments).toBeGreaterThan(3);
    box.ack(20);
    expect(readdirSync(dir).length).toBeLessThan(segments);
    box.close();

    const again = Outbox.open(dir, { segmentBytes: 200 });
    expect(again.high).toBe(30);
    expect(again.acked).toBeLessThanOrEqual(20);
    expect(seqs(again, 20)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    expect(again.append(report(31))).toBe(31);
  });

  it('reads old records from disk once memory no longer holds them', () => {
    const box = Outbox.open(tempDir('outbox-'), { segmentBytes: 300, memoryRecords: 4 });
    for (let i = 1; i <= 25; i++) box.append(report(i));
    expect(seqs(box, 0)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(seqs(box, 18)).toEqual([19, 20, 21, 22, 23, 24, 25]);
  });

  it('keeps at most memoryBytes of records in memory; the rest come from disk, with their JSON', () => {
    const box = Outbox.open(tempDir('outbox-'), { segmentBytes: 300, memoryBytes: 400 });
    for (let i = 1; i <= 25; i++) box.append(report(i));
    const all = [...box.after(0)];
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    // Every record, from memory or from disk, carries the report's JSON for sending as it is.
    for (const r of all) expect(JSON.parse(r.json ?? '')).toEqual(r.report);
    expect(all[0]?.report).toEqual(report(1));
  });

  it('cuts a line half-written by a crash', () => {
    const dir = tempDir('outbox-');
    const box = Outbox.open(dir);
    box.append(report(1));
    box.append(report(2));
    box.close();
    const [segment] = readdirSync(dir);
    appendFileSync(path.join(dir, segment ?? ''), '{"seq":3,"report":{"ty');
    const again = Outbox.open(dir);
    expect(again.high).toBe(2);
    expect(again.append(report(3))).toBe(3);
    expect(seqs(again, 0)).toEqual([1, 2, 3]);
  });

  it('keeps in memory what it cannot write, never dropping it before the ack, and says so once', () => {
    const dir = path.join(tempDir('outbox-'), 'box');
    const warnings: string[] = [];
    const box = Outbox.open(dir, { segmentBytes: 100, memoryRecords: 2, warn: (t) => warnings.push(t) });
    rmSync(dir, { recursive: true }); // every write now fails, as on a full disk
    for (let i = 1; i <= 10; i++) expect(box.append(report(i))).toBe(i);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot write to .*box.*ENOENT.*kept in memory/);
    // Past memoryRecords, yet every report is still there to send.
    expect(seqs(box, 0)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    mkdirSync(dir);
    box.append(report(11));
    expect(warnings[1]).toMatch(/works again/);
    expect(seqs(box, 3)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    box.ack(11);
    expect(box.pending).toBe(0);
  });

  it('numbers new reports after what the server applied when it holds less (reports lost, restarted)', () => {
    const dir = tempDir('outbox-');
    const box = Outbox.open(dir);
    box.append(report(1));
    box.close();
    const again = Outbox.open(dir);
    again.ack(7); // the server's watermark, from its welcome
    expect(again.append(report(2))).toBe(8);
    expect(seqs(again, 7)).toEqual([8]);
  });
});
