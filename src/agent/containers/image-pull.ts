import type { GroupEnd } from '../process-group.js';
import type { TaskRun } from '../task-run.js';
import { errorText } from '../texts.js';
import type { ContainerEngine, PullEvent } from './engine.js';

export interface ImagePullOptions {
  engine: ContainerEngine;
  /** Receives the pull's progress as text lines. */
  onNote: (text: string) => void;
  /** Clock. Default `Date.now`. */
  now?: () => number;
}

/**
 * A docker task with action `pull`: makes the image present on this node. An image that is here
 * already counts as pulled without asking any registry (nodes without network, local images); a
 * failed pull ends as a start error carrying the engine's message. It starts at once (pid 0: no
 * process of its own) and a terminate just stops waiting for the pull.
 */
export class ImagePull implements TaskRun {
  readonly started: Promise<boolean> = Promise.resolve(true);
  readonly exited: Promise<GroupEnd>;
  readonly finished: Promise<GroupEnd>;
  readonly pid = 0;

  private readonly now: () => number;
  private over = false;
  private resolveEnd!: (end: GroupEnd) => void;

  constructor(
    private readonly image: string,
    private readonly opts: ImagePullOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.exited = new Promise((resolve) => {
      this.resolveEnd = resolve;
    });
    this.finished = this.exited;
    void this.run();
  }

  terminate(_graceMs: number): void {
    this.end({ kind: 'exit', code: null, signal: 'SIGTERM', ts: this.now() });
  }

  signal(signal: NodeJS.Signals): boolean {
    if (this.over) return false;
    this.end({ kind: 'exit', code: null, signal, ts: this.now() });
    return true;
  }

  private async run(): Promise<void> {
    const { image, opts } = this;
    try {
      if (await opts.engine.hasImage(image)) {
        opts.onNote(`image ${image} is on this node already`);
        this.end({ kind: 'exit', code: 0, signal: null, ts: this.now() });
        return;
      }
      opts.onNote(`pulling ${image}`);
      let last = '';
      await opts.engine.pull(image, (e) => {
        const text = progressText(e);
        // Download bars repeat the same status many times a second: one line per change.
        if (text && text !== last) opts.onNote(text);
        last = text ?? last;
      });
      opts.onNote(`pulled ${image}`);
      this.end({ kind: 'exit', code: 0, signal: null, ts: this.now() });
    } catch (err) {
      const text = `pull of "${image}" failed: ${errorText(err)}`;
      this.end({ kind: 'spawn_error', text, code: undefined, ts: this.now() });
    }
  }

  private end(end: GroupEnd): void {
    if (this.over) return;
    this.over = true;
    this.resolveEnd(end);
  }
}

function progressText(e: PullEvent): string | undefined {
  if (e.error || !e.status) return undefined;
  if (e.progress) return undefined;
  return e.id ? `${e.id}: ${e.status}` : e.status;
}
