/**
 * What an attempt drives, whatever runs the task: a process group (shell, exec) or a container
 * (docker). The attempt only needs to know when it started and ended, how to end it, and its output.
 */
import type { GroupEnd } from './process-group.js';

export interface TaskRun {
  /** Resolves true once the task runs (then `pid` is set), false when it could not start. */
  readonly started: Promise<boolean>;
  /** Resolves when the main process (or container) has ended, or it failed to start. */
  readonly exited: Promise<GroupEnd>;
  /** Resolves after `exited`, once everything is cleaned up and the last output line handed on. */
  readonly finished: Promise<GroupEnd>;
  /** The pid reported with `task.started` (a container's main process on the host; 0: unknown). */
  readonly pid: number | undefined;
  /** SIGTERM now, SIGKILL after `graceMs` if still alive; asked before the start, done right after it. */
  terminate(graceMs: number): void;
  /** Sends a signal to everything of the task; false when nothing received it. */
  signal(signal: NodeJS.Signals): boolean;
}
