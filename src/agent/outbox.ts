/**
 * The agent's outbox: every report (status, log lines) gets a sequence number and is written to disk
 * before it is sent, so nothing is lost while the server is away or restarting, nor when the agent
 * itself restarts. Segments are JSON-lines files named by their first seq; a segment is deleted once
 * the server has acknowledged its last report. Recent records stay in memory for fast live sending;
 * older ones are read back from disk when replayed.
 *
 * Writes are not fsynced: a report survives the agent's crash (the page cache outlives the process),
 * not the machine's. A write that fails (a full disk) loses nothing while the agent runs: the report
 * is kept in memory, and never dropped from it, until the server acknowledges it; only a restart
 * meanwhile loses it.
 */
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { AgentReport } from './protocol.js';

export interface OutboxRecord {
  seq: number;
  report: AgentReport;
  /** The report as JSON, when it is still at hand: sending it then costs no second stringify. */
  json?: string;
}

export interface OutboxOptions {
  /** Start a new segment past this size. Default 1 MiB. */
  segmentBytes?: number;
  /** Keep at most this many recent records in memory. Default 20,000. */
  memoryRecords?: number;
  /**
   * And at most about this many bytes of them. Default 16 MiB. A chatty task writes log reports
   * faster than a busy server takes them: past this they wait on disk only, so the agent's memory
   * stays flat however far behind the server is.
   */
  memoryBytes?: number;
  /** Told when writing to disk starts failing, and when it works again. Default: nothing. */
  warn?: (text: string) => void;
}

interface MemoryRecord extends OutboxRecord {
  /** Length of its JSON line (UTF-16 units: an estimate of its memory is all that is needed). */
  bytes: number;
  /** Not written to disk (it failed): kept in memory until acknowledged. */
  memoryOnly?: boolean;
}

interface Segment {
  first: number;
  last: number;
  file: string;
}

const SEGMENT = /^seg-(\d{12})\.jsonl$/;

export class Outbox {
  private readonly segments: Segment[] = [];
  private readonly memory: MemoryRecord[] = [];
  /** Bytes of the records in `memory` (their JSON lines). */
  private memoryUsed = 0;
  private fd: number | undefined;
  private bytes = 0;
  private seq = 0;
  private ackedSeq = 0;
  private readonly segmentBytes: number;
  private readonly memoryRecords: number;
  private readonly memoryBytes: number;
  private readonly warn: (text: string) => void;
  /** Why the last write failed; undefined while writing works. */
  private writeError: string | undefined;

  private constructor(
    private readonly dir: string,
    opts: OutboxOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? 1024 * 1024;
    this.memoryRecords = opts.memoryRecords ?? 20_000;
    this.memoryBytes = opts.memoryBytes ?? 16 * 1024 * 1024;
    this.warn = opts.warn ?? (() => {});
  }

  /** Opens the outbox in `dir`, finding what an earlier agent process left unacknowledged. */
  static open(dir: string, opts: OutboxOptions = {}): Outbox {
    mkdirSync(dir, { recursive: true });
    const box = new Outbox(dir, opts);
    const files = readdirSync(dir)
      .filter((f) => SEGMENT.test(f))
      .sort();
    for (const f of files) {
      const file = path.join(dir, f);
      const records = readSegment(file, true);
      const first = Number(SEGMENT.exec(f)?.[1]);
      const last = records.at(-1)?.seq ?? first - 1;
      if (last < first) {
        rmSync(file, { force: true });
        continue;
      }
      box.segments.push({ first, last, file });
      box.seq = Math.max(box.seq, last);
    }
    box.ackedSeq = (box.segments[0]?.first ?? box.seq + 1) - 1;
    return box;
  }

  /** The highest seq written. */
  get high(): number {
    return this.seq;
  }

  /** The highest seq the server has acknowledged (as far as this agent knows). */
  get acked(): number {
    return this.ackedSeq;
  }

  /** Records how many reports wait for an acknowledgement. */
  get pending(): number {
    return this.seq - this.ackedSeq;
  }

  /** Writes a report; returns its seq. Never throws: a failed write keeps it in memory only. */
  append(report: AgentReport): number {
    const seq = ++this.seq;
    const json = JSON.stringify(report);
    // The same text as JSON.stringify({ seq, report }), without stringifying the report twice.
    const line = `{"seq":${seq},"report":${json}}\n`;
    const onDisk = this.write(seq, line);
    const current = this.segments.at(-1);
    if (current) current.last = seq;
    this.memory.push({ seq, report, json, bytes: line.length, ...(onDisk ? {} : { memoryOnly: true }) });
    this.memoryUsed += line.length;
    while (
      this.memory.length > 1 &&
      !this.memory[0]?.memoryOnly &&
      (this.memory.length > this.memoryRecords || this.memoryUsed > this.memoryBytes)
    ) {
      this.dropOldestInMemory();
    }
    return seq;
  }

  /** Appends the line to the current segment; false when that failed (a half line is cut off). */
  private write(seq: number, line: string): boolean {
    try {
      if (this.fd === undefined || this.bytes >= this.segmentBytes) this.rotate(seq);
      const fd = this.fd as number;
      const size = Buffer.byteLength(line, 'utf8');
      const written = writeSync(fd, line, null, 'utf8');
      if (written < size) {
        ftruncateSync(fd, this.bytes);
        throw new Error(`short write (${written} of ${size} bytes): the disk is full?`);
      }
      this.bytes += written;
      if (this.writeError !== undefined) this.warn('outbox: writing to disk works again');
      this.writeError = undefined;
      return true;
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (this.writeError === undefined)
        this.warn(`outbox: cannot write to ${this.dir} (${text}); reports kept in memory until sent`);
      this.writeError = text;
      return false;
    }
  }

  private dropOldestInMemory(): void {
    const r = this.memory.shift();
    if (r) this.memoryUsed -= r.bytes;
  }

  /** The server applied everything up to `seq`: drop what is no longer needed. */
  ack(seq: number): void {
    if (seq <= this.ackedSeq) return;
    // The server applied reports this outbox no longer holds (kept in memory only, the disk being
    // full, then the agent restarted): number new ones after them, or the server would skip them.
    if (seq > this.seq && this.memory.length === 0) this.seq = seq;
    this.ackedSeq = Math.min(seq, this.seq);
    while (this.memory.length > 0 && (this.memory[0]?.seq ?? Infinity) <= this.ackedSeq)
      this.dropOldestInMemory();
    this.dropAcked();
  }

  /** Deletes the segments whose every record is acknowledged, except the one being written. */
  private dropAcked(): void {
    while (this.segments.length > 0) {
      const s = this.segments[0] as Segment;
      const beingWritten = this.segments.length === 1 && this.fd !== undefined;
      if (s.last > this.ackedSeq || beingWritten) break;
      rmSync(s.file, { force: true });
      this.segments.shift();
    }
  }

  /** The records after `seq`, in order: from memory when it still holds them, else from disk. */
  *after(seq: number): Generator<OutboxRecord> {
    let next = seq + 1;
    const memFirst = this.memory[0]?.seq ?? this.seq + 1;
    if (next < memFirst) {
      for (const s of this.segments) {
        if (s.last < next || s.first >= memFirst) continue;
        for (const r of readSegment(s.file, false)) {
          if (r.seq >= next && r.seq < memFirst) {
            yield r;
            next = r.seq + 1;
          }
        }
      }
    }
    const at = this.memory.findIndex((r) => r.seq >= next);
    if (at < 0) return;
    // Appends during the iteration are yielded too: the caller sends until it is caught up.
    for (let i = at; i < this.memory.length; i++) {
      const r = this.memory[i] as OutboxRecord;
      if (r.seq >= next) {
        yield r;
        next = r.seq + 1;
      }
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private rotate(firstSeq: number): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined; // if the open below fails, the next append tries again
    const file = path.join(this.dir, `seg-${String(firstSeq).padStart(12, '0')}.jsonl`);
    this.fd = openSync(file, 'a');
    this.bytes = 0;
    this.segments.push({ first: firstSeq, last: firstSeq - 1, file });
    this.dropAcked(); // the segment just closed may be fully acknowledged already
  }
}

/** Reads a segment's records; with `repair`, cuts a last line left half-written by a crash. */
function readSegment(file: string, repair: boolean): OutboxRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: OutboxRecord[] = [];
  let good = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const r = JSON.parse(line) as OutboxRecord;
      // The report's JSON is the tail of the line (see append): kept, it is sent without stringifying.
      const prefix = `{"seq":${r.seq},"report":`;
      if (line.startsWith(prefix) && line.endsWith('}')) r.json = line.slice(prefix.length, -1);
      out.push(r);
      good += Buffer.byteLength(line, 'utf8') + 1;
    } catch {
      if (repair) truncateSync(file, good);
      break;
    }
  }
  return out;
}
