import { StringDecoder } from 'node:string_decoder';

/** Longest line handed on, in UTF-8 bytes; longer lines are cut into pieces of at most this size. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * Turns a byte stream into lines. Chunks may end in the middle of a line or of a multi-byte UTF-8
 * character: a StringDecoder keeps the incomplete character and `pending` keeps the incomplete line.
 * Lines lose their `\n` and a trailing `\r`. `end()` hands on a last line that had no newline.
 * `onLine` is called synchronously from `push`/`end`, so callers can stamp lines with the arrival time.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private ended = false;

  /**
   * @param onLine receives each line, without its line terminator.
   * @param maxLineBytes longest piece handed on; default {@link MAX_LINE_BYTES} (64 KiB).
   */
  constructor(
    private readonly onLine: (text: string) => void,
    private readonly maxLineBytes: number = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    if (this.ended) return;
    const text = this.decoder.write(chunk);
    if (text === '') return;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = this.pending + text.slice(start, nl);
      this.pending = '';
      this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = nl + 1;
    }
    this.pending += text.slice(start);
    this.cutPending();
  }

  /** Flushes the decoder and hands on the last partial line, if any. Later pushes are ignored. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    if (rest !== '') this.emit(rest.endsWith('\r') ? rest.slice(0, -1) : rest);
  }

  /** Keeps a line without newline from growing without bound: full pieces go out as they fill up. */
  private cutPending(): void {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes, so short strings need no byte count.
    if (this.pending.length * 3 <= this.maxLineBytes) return;
    if (Buffer.byteLength(this.pending) <= this.maxLineBytes) return;
    const pieces = splitUtf8(this.pending, this.maxLineBytes);
    this.pending = pieces.pop() ?? '';
    for (const piece of pieces) this.onLine(piece);
  }

  private emit(line: string): void {
    if (line.length * 3 <= this.maxLineBytes || Buffer.byteLength(line) <= this.maxLineBytes) {
      this.onLine(line);
      return;
    }
    for (const piece of splitUtf8(line, this.maxLineBytes)) this.onLine(piece);
  }
}

/**
 * Cuts `text` into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. The last
 * piece may be shorter (or empty only when `text` is).
 */
export function splitUtf8(text: string, maxBytes: number): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: string[] = [];
  let start = 0;
  while (bytes.length - start > maxBytes) {
    let end = start + maxBytes;
    // Back off to the start of a character: continuation bytes look like 10xxxxxx.
    while (end > start && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
    if (end === start) end = start + maxBytes; // maxBytes smaller than one character: cut anyway
    pieces.push(bytes.toString('utf8', start, end));
    start = end;
  }
  pieces.push(bytes.toString('utf8', start));
  return pieces;
}
