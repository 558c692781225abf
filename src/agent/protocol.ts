/**
 * The messages between the coordinator (server side) and an agent (node side). In embedded mode they
 * pass in-process; with a central server they travel over the agent's connection. Every report carries
 * its attempt reference: (jobId, taskId, attempt) is the fencing token of one start of one task.
 */
import type { Millis } from '../core/types.js';

export interface AttemptRef {
  jobId: number;
  taskId: number;
  /** 1 for the first start, incremented by each retry. */
  attempt: number;
}

export type ResolvedProbe =
  | { kind: 'command'; label: string; command: ResolvedCommand; timeoutMs?: number }
  /** `url` and `address` may hold `${VAR}`, filled in on the node from the task's environment. */
  | { kind: 'http'; label: string; url: string }
  | { kind: 'tcp'; label: string; address: string };

export interface ResolvedCommand {
  /** shell: `command` runs under `sh -c`; exec: `command` is spawned directly with `args`. */
  driver: 'shell' | 'exec';
  command: string;
  args: string[];
  /** Extra environment on top of the agent's own. */
  env: Record<string, string>;
  /** Absolute, or relative to the job's working directory on the node. Empty: the job's directory. */
  workingDir: string;
}

export interface ResolvedTask extends ResolvedCommand {
  /** `stage/node/task`, for log prefixes and messages. */
  label: string;
  longRunning: boolean;
  /**
   * Nothing else of the job runs on this node: after the attempt ends, kill what is left of the job
   * here (as job.cleanup would) before reporting the end, and say so in the report.
   */
  cleanupAfter?: boolean;
  /** Secret values in the task's environment: replaced by *** in its log lines. */
  mask?: string[];
  /** Kill the attempt and fail it after this long. Undefined: no limit. */
  timeoutMs?: number;
  /** The job's files this task gets and leaves (absent: none). */
  files?: ResolvedFiles;
  /**
   * driver docker: the container to pull or run instead of a process (`command`/`args` then only
   * name it in messages). Absent: a shell or exec task.
   */
  container?: ResolvedContainer;
  ready?: {
    probes: ResolvedProbe[];
    /** Pause between two tries of a probe that failed. */
    intervalMs: number;
    /** Deadline for all probes to pass, from the attempt's start. */
    timeoutMs: number;
  };
}

/** A docker task as the agent runs it (see agent/containers/). */
export interface ResolvedContainer {
  image: string;
  /** pull: make the image present (a no-op when it is); start: run a container of it (never pulls). */
  action: 'pull' | 'start';
  /** The container's argv; empty: the image's own command. */
  command: string[];
  /** Container port -> host port (tcp), published on all the host's addresses. */
  ports: Array<{ guest: number; host: number }>;
  /** Where the task's working directory is mounted in the container, and where the command runs. */
  mountPath: string;
}

/** A job's files as its tasks see them (everything the job has; `outputs`/`keepWorkdir` per task). */
export interface JobFilesInfo {
  /** Opens the job's files on the server (header `x-job-token`): one job, no more. */
  token: string;
  /** Fetched before the task starts, verified, and put at `to` in its working directory. */
  inputs: Array<{ name: string; to: string; sha256: string; size: number }>;
  /** Extracted fresh into the job's directory on the node before its first task there. */
  workspace?: { id: string; sha256: string; size: number; format: string };
}

export interface ResolvedFiles extends JobFilesInfo {
  /** Globs of files to upload when the task ends, relative to its working directory. */
  outputs: string[];
  /** Upload the whole final working directory. */
  keepWorkdir: boolean;
}

export type AgentCommand =
  | { type: 'task.start'; ref: AttemptRef; task: ResolvedTask }
  | { type: 'task.stop'; ref: AttemptRef; reason: string; graceMs: number }
  /** Kill every process still carrying the job's marker in its environment (orphans, daemons). */
  | { type: 'job.cleanup'; jobId: number; graceMs: number };

/** How an attempt ended, as the agent saw it. */
export type AttemptOutcome =
  | 'succeeded' // exit code 0
  | 'failed' // non-zero exit, or killed by a signal it was not sent by us
  | 'stopped' // stopped on request (task.stop)
  // Ended by the agent on its own, not asked to: the agent is stopping, or lost its server. The
  // server counts the attempt as lost (retried as the spec says), never as stopped on request.
  | 'abandoned'
  | 'timeout' // exceeded timeoutMs
  | 'probe_timeout' // long-running task not ready before the readiness deadline
  | 'start_error'; // could not be started (bad command, bad working directory, ...)

export type LogStream = 'stdout' | 'stderr' | 'probe' | 'system';

export interface LogLine {
  ref: AttemptRef;
  /** Per attempt, from 1, no gaps: (ref, seq) identifies a line, so a replayed line is stored once. */
  seq: number;
  ts: Millis;
  stream: LogStream;
  text: string;
}

export type AgentReport =
  | { type: 'task.started'; ref: AttemptRef; ts: Millis; pid: number }
  | { type: 'task.ready'; ref: AttemptRef; ts: Millis }
  | {
      type: 'task.exited';
      ref: AttemptRef;
      ts: Millis;
      outcome: AttemptOutcome;
      exitCode: number | null;
      signal: string | null;
      /** Short human text: `exit code 3`, `killed by SIGKILL`, `not ready after 30s: ...`. */
      text: string;
      /** When the process started (a start may wait on the agent for a free slot). */
      startedAt?: Millis;
      /** Set when the task asked for `cleanupAfter`: the job's leftovers here were killed. */
      cleaned?: { killed: number };
    }
  | { type: 'log'; lines: LogLine[] }
  /** Answer to job.cleanup: no process of the job is left on this node. */
  | { type: 'job.cleaned'; jobId: number; ts: Millis; killed: number };

/** The in-process face of an agent, as the coordinator uses it. */
export interface AgentEndpoint {
  readonly nodeId: string;
  /** The agent process instance behind this endpoint now (a restarted agent is a new instance). */
  readonly instance?: string | undefined;
  /** Delivers a command, or drops it when the agent is not connected: reconciliation on its
   * reconnect resends what is still wanted. */
  send(cmd: AgentCommand): void;
}

/** Where an agent delivers its reports. */
export type ReportSink = (nodeId: string, report: AgentReport) => void;
