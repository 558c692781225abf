/**
 * One task's log: starts at its tail (a page, not the whole log), loads older pages when scrolled to
 * the top, follows new lines live while the job runs, renders only the rows in view (fixed row
 * height), keeps ANSI colours as styled spans (text only, never HTML), and searches the lines
 * loaded so far.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { parseAnsi, stripAnsi } from '../ansi.js';
import { useStream } from '../hooks.js';
import { useSession } from '../session-context.js';
import type { LogLine } from '../types.js';
import { ErrorAlert } from './error-alert.js';

const ROW = 18;
const PAGE = 500;
/** Rows drawn above and below the ones in view. */
const OVERSCAN = 30;
const NEWEST = Number.MAX_SAFE_INTEGER;

export function LogView({ jobId, taskId, live }: { jobId: number; taskId: number; live: boolean }) {
  const { api } = useSession();
  const [lines, setLines] = useState<LogLine[]>([]);
  const [older, setOlder] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [followFrom, setFollowFrom] = useState<number | null>(null);
  const [follow, setFollow] = useState(true);
  const [error, setError] = useState<string | undefined>();
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(400);
  const [query, setQuery] = useState('');
  const [hit, setHit] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  /** Rows added at the top: the scroll position moves down by as much, so the view stays put. */
  const prepended = useRef(0);
  const base = `/api/v1/jobs/${jobId}/logs?task=${taskId}`;

  useEffect(() => {
    let live = true;
    setLines([]);
    setFollowFrom(null);
    api.get<{ lines: LogLine[] }>(`${base}&before=${NEWEST}&limit=${PAGE}`).then(
      (page) => {
        if (!live) return;
        setLines(page.lines);
        setOlder(page.lines.length === PAGE);
        setFollowFrom(page.lines[page.lines.length - 1]?.id ?? 0);
      },
      (err: unknown) => live && setError(err instanceof Error ? err.message : String(err)),
    );
    return () => {
      live = false;
    };
  }, [api, base]);

  useStream(live && followFrom !== null ? `${base}&follow=true&after=${followFrom}` : null, (e) => {
    if (e.event !== 'log') return;
    const line = JSON.parse(e.data) as LogLine;
    setLines((ls) => ((ls[ls.length - 1]?.id ?? 0) >= line.id ? ls : [...ls, line]));
  });

  const loadOlder = async () => {
    const first = lines[0];
    if (!first || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const page = await api.get<{ lines: LogLine[] }>(`${base}&before=${first.id}&limit=${PAGE}`);
      prepended.current = page.lines.length;
      setOlder(page.lines.length === PAGE);
      setLines((ls) => [...page.lines, ...ls]);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setLoadingOlder(false);
    }
  };

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (prepended.current > 0) {
      el.scrollTop += prepended.current * ROW;
      prepended.current = 0;
    } else if (follow) {
      el.scrollTop = el.scrollHeight;
    }
    setViewH(el.clientHeight);
    setScrollTop(el.scrollTop);
  }, [lines, follow]);

  const plain = useMemo(() => lines.map((l) => stripAnsi(l.text).toLowerCase()), [lines]);
  const hits = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (q === '') return [];
    const out: number[] = [];
    plain.forEach((t, i) => {
      if (t.includes(q)) out.push(i);
    });
    return out;
  }, [plain, query]);

  const goTo = (n: number) => {
    if (hits.length === 0) return;
    const i = ((n % hits.length) + hits.length) % hits.length;
    setHit(i);
    setFollow(false);
    const el = box.current;
    const row = hits[i] ?? 0;
    if (el) el.scrollTop = Math.max(0, row * ROW - el.clientHeight / 2);
  };

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < ROW * 2;
    if (!atBottom && follow) setFollow(false);
    if (el.scrollTop < ROW * 5 && older) void loadOlder();
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(lines.length, Math.ceil((scrollTop + viewH) / ROW) + OVERSCAN);
  const current = hits[hit];
  const hitSet = new Set(hits);

  return (
    <div class="log">
      <div class="log-tools">
        <label class="check">
          <input
            type="checkbox"
            checked={follow}
            onChange={(e) => setFollow(e.currentTarget.checked)}
            disabled={!live}
          />{' '}
          Follow
        </label>
        <label for="log-search" class="sr-only">
          Search the log
        </label>
        <input
          id="log-search"
          type="search"
          placeholder="Search the log"
          value={query}
          onInput={(e) => {
            setQuery(e.currentTarget.value);
            setHit(0);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              goTo(
                e.shiftKey ? hit - 1 : hits.length > 0 && query ? hit + (current === undefined ? 0 : 1) : 0,
              );
            }
          }}
        />
        <button
          type="button"
          onClick={() => goTo(hit - 1)}
          disabled={hits.length === 0}
          aria-label="Previous match"
        >
          ↑
        </button>
        <button
          type="button"
          onClick={() => goTo(hit + 1)}
          disabled={hits.length === 0}
          aria-label="Next match"
        >
          ↓
        </button>
        <span class="muted small" aria-live="polite">
          {query.trim() !== '' ? `${hits.length === 0 ? 0 : hit + 1} of ${hits.length}` : ''}
          {query.trim() !== '' && older ? ' (in the lines loaded; scroll up for older)' : ''}
        </span>
        <span class="muted small log-count">
          {lines.length} {lines.length === 1 ? 'line' : 'lines'} loaded{older ? ', older above' : ''}
        </span>
        {older && (
          <button type="button" onClick={() => void loadOlder()} disabled={loadingOlder}>
            Load older
          </button>
        )}
      </div>
      <ErrorAlert message={error} />
      <div
        class="log-lines"
        ref={box}
        onScroll={onScroll}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling log takes focus so that keys scroll it
        tabIndex={0}
        role="log"
        aria-label={`Log of task ${taskId}`}
      >
        <div class="log-spacer" style={{ height: `${lines.length * ROW}px` }}>
          {lines.slice(first, last).map((l, k) => {
            const i = first + k;
            return (
              <div
                key={l.id}
                class={`log-line${l.stream === 'stderr' ? ' stderr' : ''}${hitSet.has(i) ? ' hit' : ''}${i === current ? ' current' : ''}`}
                style={{ top: `${i * ROW}px` }}
                data-seq={l.seq}
              >
                <span class="log-no" aria-hidden="true">
                  {l.seq}
                </span>
                {parseAnsi(l.text).map((s, j) => (
                  <span
                    key={j}
                    class={s.classes || undefined}
                    style={
                      s.color || s.background
                        ? {
                            ...(s.color ? { color: s.color } : {}),
                            ...(s.background ? { background: s.background } : {}),
                          }
                        : undefined
                    }
                  >
                    {s.text}
                  </span>
                ))}
              </div>
            );
          })}
        </div>
        {lines.length === 0 && !error && <p class="muted log-empty">No lines yet.</p>}
      </div>
    </div>
  );
}
