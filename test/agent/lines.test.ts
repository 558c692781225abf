import { describe, expect, it, vi } from 'vitest';
import { LineSplitter, MAX_LINE_BYTES, splitUtf8 } from '../../src/agent/line-splitter.js';
import { LogBuffer } from '../../src/agent/log-buffer.js';
import type { LogLine } from '../../src/agent/protocol.js';
import { shortDuration } from '../../src/agent/texts.js';

function split(chunks: Buffer[], max?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((t) => lines.push(t), max);
  for (const c of chunks) splitter.push(c);
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('joins lines split across chunks, strips \\r, emits the last partial line at end', () => {
    expect(split([Buffer.from('a'), Buffer.from('b\r\nc\n\nd')])).toEqual(['ab', 'c', '', 'd']);
  });

  it('keeps a multi-byte character split across chunks intact', () => {
    const bytes = Buffer.from('é€\n');
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    expect(split(chunks)).toEqual(['é€']);
  });

  it('cuts very long lines into 64 KiB pieces without breaking characters', () => {
    const long = 'x'.repeat(MAX_LINE_BYTES * 2 + 10);
    expect(split([Buffer.from(`${long}\nnext\n`)]).map((l) => l.length)).toEqual([
      MAX_LINE_BYTES,
      MAX_LINE_BYTES,
      10,
      4,
    ]);
    // Also a long line that arrives without newline, in many chunks.
    const chunks = Array.from({ length: 20 }, () => Buffer.from('y'.repeat(10_000)));
    const pieces = split(chunks);
    expect(pieces.map((l) => l.length)).toEqual([
      MAX_LINE_BYTES,
      MAX_LINE_BYTES,
      MAX_LINE_BYTES,
      200_000 - 3 * MAX_LINE_BYTES,
    ]);
    expect(splitUtf8('aé', 2)).toEqual(['a', 'é']);
    expect(split([Buffer.from('ééé\n')], 5)).toEqual(['éé', 'é']);
  });
});

describe('LogBuffer', () => {
  const line = (seq: number): LogLine => ({
    ref: { jobId: 1, taskId: 1, attempt: 1 },
    seq,
    ts: 0,
    stream: 'stdout',
    text: `${seq}`,
  });

  it('delivers at 1000 lines at once, the rest when the timer fires', () => {
    vi.useFakeTimers();
    try {
      const batches: LogLine[][] = [];
      const buffer = new LogBuffer((lines) => batches.push(lines), { flushMs: 50 });
      for (let i = 1; i <= 1500; i++) buffer.add(line(i));
      expect(batches.map((b) => b.length)).toEqual([1000]);
      vi.advanceTimersByTime(49);
      expect(batches.length).toBe(1);
      vi.advanceTimersByTime(1);
      expect(batches.map((b) => b.length)).toEqual([1000, 500]);
      buffer.flush();
      expect(batches.length).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('shortDuration', () => {
  it('prints whole seconds without decimals', () => {
    expect([300, 2000, 2500, 90_000, 3_600_000].map(shortDuration)).toEqual([
      '300ms',
      '2s',
      '2.5s',
      '1m30s',
      '1h',
    ]);
  });
});
