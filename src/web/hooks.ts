/** Loading from the API, and following its event streams, as hooks. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { useSession } from './session-context.js';
import type { StreamEvent } from './sse-reader.js';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload(): void;
}

/** GETs `path` (again when it changes or on reload); null path: nothing to load. */
export function useGet<T>(path: string | null): Loaded<T> {
  const { api } = useSession();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === null) return;
    let live = true;
    api.get<T>(path).then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      },
      (err: unknown) => {
        if (live) setError(err instanceof Error ? err.message : String(err));
      },
    );
    return () => {
      live = false;
    };
  }, [api, path, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload };
}

/** Follows an event stream while the component shows (and `path` is not null). */
export function useStream(path: string | null, onEvent: (e: StreamEvent) => void): void {
  const { api } = useSession();
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    void api.follow(path, (e) => handler.current(e), ctl.signal).catch(() => {});
    return () => ctl.abort();
  }, [api, path]);
}

/** Calls `fn` at most once per `ms`, trailing (many events, one reload). */
export function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  }, [ms]);
}

/** Re-renders every `ms` (running durations). */
export function useNow(ms: number, active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms, active]);
  return now;
}
