/**
 * One attempt of a backend job's task on its backend: submit it (or take it up from the stored keys),
 * poll status and output until it ends, stop it when asked, and report its end to the coordinator
 * as an agent would (`task.exited`).
 */
import { randomUUID } from 'node:crypto';
import type { AgentReport, AttemptOutcome, AttemptRef, LogStream } from '../agent/protocol.js';
import type { Coordinator } from '../engine/coordinator.js';
import type { BackendRunRecord, BackendRunUpdate } from '../store/store.js';
import {
  type BackendJob,
  type BackendStatus,
  BackendUnreachable,
  type ExternalBackend,
  type IdentificationKeys,
  maskSecrets,
} from './backend.js';
import type { BackendHubOptions } from './runner.js';

export function exited(ref: AttemptRef, outcome: AttemptOutcome, text: string, ts: number): AgentReport {
  return {
    type: 'task.exited',
    ref,
    ts,
    outcome,
    exitCode: outcome === 'succeeded' ? 0 : null,
    signal: null,
    text,
    // Nothing of the job is left on a backend node once its one task ended: no cleanup round trip.
    cleaned: { killed: 0 },
  };
}

export async function report(
  opts: BackendHubOptions,
  c: Coordinator,
  nodeId: string,
  r: AgentReport,
): Promise<void> {
  if (!opts.isLeader(c)) return;
  await c.handleReport(nodeId, r).catch((err: unknown) => opts.log(`backend report: ${String(err)}`));
}

/** One attempt of a backend job's task: submit (or take up), poll until it ends, report. */
export class BackendRunLoop {
  private closed = false;
  private stopRequested = false;
  private stopDeadline: number | undefined;
  private stopForced = false;
  private stopReason = '';
  private wake: (() => void) | undefined;
  private backend: ExternalBackend | undefined;
  private record: BackendRunRecord | undefined;
  private job: BackendJob | undefined;

  constructor(
    private readonly opts: BackendHubOptions,
    private readonly coordinator: Coordinator,
    private readonly nodeId: string,
    private readonly backendId: string,
    readonly ref: AttemptRef,
  ) {}

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  requestStop(force: boolean, reason: string): void {
    if (this.stopRequested && !force) return;
    this.stopRequested = true;
    this.stopForced ||= force;
    this.stopReason = reason;
    const b = this.backend;
    const keys = this.record?.keys;
    // Before the run knows its backend and keys, the stop waits: go() sends it once they are known.
    if (!b || !keys || Object.keys(keys).length === 0 || !this.job) return;
    const grace = force ? 0 : b.settings.stopGraceMs;
    this.stopDeadline = Math.min(this.stopDeadline ?? Number.POSITIVE_INFINITY, this.now() + grace);
    void this.system(`stop sent to backend ${this.backendId}${force ? ' (forced)' : ''}: ${reason}`);
    b.stop(keys, force, this.job).catch((err: unknown) => {
      // A backend that cannot be told to stop: the job ends stopped here anyway.
      this.stopDeadline = this.now();
      void this.system(`stopping on backend ${this.backendId} failed: ${this.message(err)}`);
      this.wake?.();
    });
    this.wake?.();
  }

  async go(): Promise<void> {
    const { store } = this.opts;
    let backend: ExternalBackend | undefined;
    try {
      backend = await this.opts.registry.get(this.backendId);
    } catch (err) {
      return this.end('start_error', this.message(err));
    }
    if (!backend) return this.end('start_error', `backend "${this.backendId}" is not configured`);
    this.backend = backend;
    this.job = await this.payload();
    let record = await this.loadRun();
    if (!record) {
      const fresh: BackendRunRecord = {
        ...this.ref,
        backendId: this.backendId,
        keys: {},
        outputOffset: 0,
        logSeq: 0,
        report: null,
        updatedAt: this.now(),
      };
      await store.insertBackendRun(fresh);
      record = fresh;
    }
    this.record = record;
    // Keys that are only `{triggering: marker}`: a trigger may have gone out before a crash.
    const pending = triggeringMarker(record.keys);
    if (pending !== undefined) record.keys = {};
    if (Object.keys(record.keys).length === 0) {
      let keys: IdentificationKeys | undefined;
      try {
        if (pending !== undefined && backend.findTriggered) {
          keys = await backend.findTriggered(pending);
          await this.system(
            keys
              ? `found on backend ${this.backendId} what was triggered before the restart (${pending}): ${describe(keys)}`
              : `the trigger sent before the restart (${pending}) never reached backend ${this.backendId}`,
          );
        }
        if (!keys) {
          if (this.stopRequested) return this.end('stopped', 'stopped before it was submitted');
          const marker =
            pending ?? `${this.ref.jobId}.${this.ref.taskId}.${this.ref.attempt}.${randomUUID().slice(0, 8)}`;
          // Stored before the trigger: a restart finds the run by it rather than triggering again.
          if (pending === undefined) await this.saveRun({ keys: { [TRIGGERING]: marker } });
          keys = await backend.submit(this.job, marker);
          await this.saveRun({ keys });
          record.keys = keys;
          await this.system(
            `submitted to ${backend.kind} backend ${this.backendId}: ${describe(keys)} (run ${marker})`,
          );
        } else {
          await this.saveRun({ keys });
          record.keys = keys;
        }
      } catch (err) {
        return this.end('start_error', this.message(err));
      }
    } else {
      await this.system(`taken up again on backend ${this.backendId}: ${describe(record.keys)}`);
    }
    // A stop asked for before the keys were known goes out now.
    if (this.stopRequested && this.stopDeadline === undefined) {
      this.stopRequested = false;
      this.requestStop(this.stopForced, this.stopReason);
    }
    await this.poll(backend, record);
  }

  private async poll(backend: ExternalBackend, record: BackendRunRecord): Promise<void> {
    let unreachableSince: number | undefined;
    while (!this.closed) {
      try {
        const latest = (await this.loadRun()) ?? record;
        const st = await backend.status(record.keys, latest);
        if (st.keys) {
          record.keys = st.keys;
          await this.saveRun({ keys: st.keys });
          await this.system(`backend ${this.backendId}: ${describe(st.keys)}`);
        }
        const final = st.state === 'succeeded' || st.state === 'failed' || st.state === 'stopped';
        await this.readOutput(backend, record, final);
        unreachableSince = undefined;
        if (final) return this.finish(st);
        if (this.stopDeadline !== undefined && this.now() >= this.stopDeadline) {
          return this.end('stopped', `stopped: backend ${this.backendId} was told to stop`);
        }
      } catch (err) {
        if (this.closed) return;
        if (!(err instanceof BackendUnreachable)) return this.end('failed', this.message(err));
        unreachableSince ??= this.now();
        if (this.stopDeadline !== undefined && this.now() >= this.stopDeadline) {
          return this.end('stopped', `stopped (backend ${this.backendId} unreachable: ${this.message(err)})`);
        }
        if (this.now() - unreachableSince >= backend.settings.unreachableMs) {
          return this.end('failed', this.message(err));
        }
      }
      await this.sleep(backend.settings.pollMs);
    }
  }

  private finish(st: BackendStatus): Promise<void> {
    const text = st.text ?? `backend ${this.backendId}: ${st.state}`;
    if (st.state === 'succeeded') return this.end('succeeded', text);
    if (this.stopRequested) return this.end('stopped', `stopped: ${text}`);
    return this.end('failed', st.state === 'stopped' ? `stopped on the backend: ${text}` : text);
  }

  /** Reads the backend's new output into the task's log: whole lines (all of it once it ended). */
  private async readOutput(
    backend: ExternalBackend,
    record: BackendRunRecord,
    final: boolean,
  ): Promise<void> {
    const out = await backend.output(record.keys, record.outputOffset);
    if (out.text === '' && out.offset === record.outputOffset) return;
    const cut = final ? out.text.length : out.text.lastIndexOf('\n') + 1;
    const whole = out.text.slice(0, cut);
    const rest = out.text.slice(cut);
    const measure = (s: string) => (backend.outputUnit === 'bytes' ? Buffer.byteLength(s) : s.length);
    const offset = out.offset - measure(rest);
    if (whole === '') return;
    const lines = whole.replace(/\r?\n$/, '').split(/\r?\n/);
    await this.append(lines, 'stdout', offset);
  }

  private system(text: string): Promise<void> {
    return this.append([text], 'system').catch((err: unknown) =>
      this.opts.log(`backend ${this.backendId}: job ${this.ref.jobId}: ${String(err)}`),
    );
  }

  /**
   * Stores lines. A backend that reports through the hook shares the run's line numbers with the
   * hook routes (reserved in the store). Otherwise this run alone writes, and the lines' numbers
   * follow the stored count, saved with the output offset after the lines: a restart in between
   * reads the same output again and writes the same numbers, which the store keeps once.
   */
  private async append(texts: string[], stream: LogStream, outputOffset?: number): Promise<void> {
    const record = this.record;
    const backend = this.backend;
    if (!record || !backend || texts.length === 0) return;
    const { store } = this.opts;
    const { jobId, taskId, attempt } = this.ref;
    let first: number;
    if (backend.callback) {
      const last = await store.takeBackendLogSeqs(jobId, taskId, attempt, texts.length, this.now());
      if (last === undefined) return;
      first = last - texts.length + 1;
    } else {
      first = record.logSeq + 1;
    }
    const ts = this.now();
    const rows = texts.map((t, i) => ({
      jobId,
      taskId,
      attempt,
      seq: first + i,
      ts,
      stream,
      text: maskSecrets(t, backend.secrets),
    }));
    await store.appendLogs(rows);
    this.opts.bus.publish({ kind: 'logs', lines: rows });
    const set: { logSeq?: number; outputOffset?: number } = {};
    if (!backend.callback) {
      record.logSeq = first + texts.length - 1;
      set.logSeq = record.logSeq;
    }
    if (outputOffset !== undefined) {
      record.outputOffset = outputOffset;
      set.outputOffset = outputOffset;
    }
    if (Object.keys(set).length > 0) await this.saveRun(set);
  }

  /** This attempt's run as stored. */
  private loadRun(): Promise<BackendRunRecord | undefined> {
    return this.opts.store.getBackendRun(this.ref.jobId, this.ref.taskId, this.ref.attempt);
  }

  /** Stores what changed of this attempt's run. */
  private async saveRun(set: BackendRunUpdate): Promise<void> {
    await this.opts.store.updateBackendRun(
      this.ref.jobId,
      this.ref.taskId,
      this.ref.attempt,
      set,
      this.now(),
    );
  }

  private async end(outcome: AttemptOutcome, text: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const masked = maskSecrets(text, this.backend?.secrets ?? []);
    await report(this.opts, this.coordinator, this.nodeId, exited(this.ref, outcome, masked, this.now()));
  }

  /** The job as the backend gets it. */
  private async payload(): Promise<BackendJob> {
    const { store } = this.opts;
    const job = await store.getJob(this.ref.jobId);
    const base = `${this.opts.baseUrl()}/api/v1/hooks/jobs/${this.ref.jobId}`;
    const files = (await store.listFiles(this.ref.jobId)).filter((f) => f.kind === 'input');
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(job?.params ?? {})) params[k] = String(v);
    return {
      jobId: this.ref.jobId,
      name: job?.name ?? '',
      description: job?.spec.description ?? null,
      params,
      labels: { ...(job?.labels ?? {}) },
      submitter: job?.submitter ?? null,
      owner: job?.owner ?? null,
      hook: { url: base, token: this.opts.hookTokens.sign(this.ref.jobId) },
      inputs: files.map((f) => ({
        path: f.path,
        size: f.size,
        sha256: f.sha256,
        url: `${base}/files/${f.path}`,
      })),
    };
  }

  private message(err: unknown): string {
    return maskSecrets(err instanceof Error ? err.message : String(err), this.backend?.secrets ?? []);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}

/** The key a run's keys hold alone while its trigger is under way: the run marker. */
const TRIGGERING = 'triggering';

function triggeringMarker(keys: IdentificationKeys): string | undefined {
  const m = keys[TRIGGERING];
  return typeof m === 'string' && Object.keys(keys).length === 1 ? m : undefined;
}

function describe(keys: Record<string, string | number>): string {
  return Object.entries(keys)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
