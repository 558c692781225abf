/**
 * A spec's text in a textarea with a line-number gutter; lines with a problem are marked in the
 * gutter and the problems listed under it as `line:column message`, each a button that puts the
 * caret on its line.
 */
import { useRef, useState } from 'preact/hooks';
import type { Problem } from '../types.js';

const LINE_H = 20;

export function YamlEditor({
  value,
  onInput,
  problems,
  label,
}: {
  value: string;
  onInput(text: string): void;
  problems: Problem[];
  label: string;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const count = Math.max(1, value.split('\n').length);
  const bad = new Map<number, string>();
  for (const p of problems) if (p.line !== undefined && !bad.has(p.line)) bad.set(p.line, p.message);

  const goTo = (p: Problem) => {
    const el = area.current;
    if (!el || p.line === undefined) return;
    const lines = value.split('\n');
    let offset = 0;
    for (let i = 0; i < p.line - 1 && i < lines.length; i++) offset += (lines[i]?.length ?? 0) + 1;
    offset += Math.max(0, (p.column ?? 1) - 1);
    el.focus();
    el.setSelectionRange(offset, offset);
    el.scrollTop = Math.max(0, (p.line - 3) * LINE_H);
  };

  return (
    <div class="editor-wrap">
      <label for="spec-text">{label}</label>
      <div class="editor">
        <div class="gutter" ref={gutter} aria-hidden="true">
          <div style={{ transform: `translateY(${-top}px)` }}>
            {Array.from({ length: count }, (_, i) => (
              <div
                key={i}
                class={bad.has(i + 1) ? 'bad' : undefined}
                title={bad.get(i + 1)}
                data-line={i + 1}
              >
                {i + 1}
              </div>
            ))}
          </div>
        </div>
        <textarea
          id="spec-text"
          ref={area}
          value={value}
          spellcheck={false}
          autocomplete="off"
          wrap="off"
          aria-describedby={problems.length > 0 ? 'spec-problems' : undefined}
          aria-invalid={problems.length > 0}
          onInput={(e) => onInput(e.currentTarget.value)}
          onScroll={(e) => setTop(e.currentTarget.scrollTop)}
        />
      </div>
      {problems.length > 0 && (
        <ul id="spec-problems" class="problems" role="alert" aria-label="Problems in the spec">
          {problems.map((p, i) => (
            <li key={i} data-line={p.line}>
              <button type="button" class="link" onClick={() => goTo(p)} disabled={p.line === undefined}>
                {p.line !== undefined
                  ? `line ${p.line}${p.column !== undefined ? `:${p.column}` : ''}`
                  : p.path}
              </button>{' '}
              <span class="problem-text">
                {p.path ? <code>{p.path}</code> : null} {p.message}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
