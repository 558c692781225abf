/** Fan-out of committed events and log lines to live watchers (the terminal view, streams). */
import type { EventRecord, NewLogLine } from '../store/store.js';

export type BusMessage = { kind: 'events'; events: EventRecord[] } | { kind: 'logs'; lines: NewLogLine[] };

export class EventBus {
  private readonly listeners = new Set<(m: BusMessage) => void>();

  subscribe(listener: (m: BusMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(message: BusMessage): void {
    for (const l of this.listeners) {
      try {
        l(message);
      } catch {
        // A watcher's failure must not break the engine or other watchers.
      }
    }
  }
}
