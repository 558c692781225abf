/** The log view's ANSI SGR parsing and its SSE reader (browser modules; plain functions, run here). */
import { describe, expect, it } from 'vitest';
import { parseAnsi, stripAnsi } from '../../src/web/ansi.js';
import { readEventStream, type StreamEvent } from '../../src/web/sse-reader.js';

const ESC = '\u001b';

describe('ANSI colours in log lines', () => {
  it('turns SGR codes into classed segments and drops the codes', () => {
    expect(parseAnsi(`${ESC}[31mred${ESC}[0m plain`)).toEqual([
      { text: 'red', classes: 'fg-1' },
      { text: ' plain', classes: '' },
    ]);
    expect(parseAnsi(`${ESC}[1;92;44mX${ESC}[22mY${ESC}[39;49mZ`)).toEqual([
      { text: 'X', classes: 'fg-10 bg-4 bold' },
      { text: 'Y', classes: 'fg-10 bg-4' },
      { text: 'Z', classes: '' },
    ]);
  });

  it('keeps 256-colour and truecolour codes as explicit colours', () => {
    expect(parseAnsi(`${ESC}[38;5;196ma${ESC}[48;2;1;2;3mb${ESC}[38;5;3mc`)).toEqual([
      { text: 'a', classes: '', color: 'rgb(255,0,0)' },
      { text: 'b', classes: '', color: 'rgb(255,0,0)', background: 'rgb(1,2,3)' },
      { text: 'c', classes: 'fg-3', background: 'rgb(1,2,3)' },
    ]);
  });

  it('removes other escape sequences, and keeps markup as plain text', () => {
    expect(parseAnsi(`a${ESC}[2Kb${ESC}[1A<img src=x>`)).toEqual([
      { text: 'a', classes: '' },
      { text: 'b', classes: '' },
      { text: '<img src=x>', classes: '' },
    ]);
    expect(stripAnsi(`${ESC}[31mthe needle${ESC}[0m`)).toBe('the needle');
    expect(parseAnsi('')).toEqual([]);
  });
});

describe('reading an event stream from fetch', () => {
  it('splits events across chunk boundaries, skips comments, keeps ids and multi-line data', async () => {
    const chunks = [
      ': heartbeat\n\nid: 4\nevent: log\nda',
      'ta: {"a":1}\n\r\nid: 5\ndata: x\ndata: y\n\n',
      'event: end\ndata: {}\n\n',
    ];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk));
        c.close();
      },
    });
    const got: StreamEvent[] = [];
    await readEventStream(body, (e) => got.push(e));
    expect(got).toEqual([
      { id: '4', event: 'log', data: '{"a":1}' },
      { id: '5', event: 'message', data: 'x\ny' },
      { event: 'end', data: '{}' },
    ]);
  });
});
