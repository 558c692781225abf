/**
 * A job's stage graph as an SVG picture: one column per level of the DAG (pipelines compile to
 * `needs`), a box per stage coloured by its status, and inside it each node the stage runs on with
 * its tasks' states and times. Long-running tasks show ready/stopped like any other state. Each
 * task is a link to its log.
 */
import { span } from '../format.js';
import { navigate } from '../router.js';
import type { StageView } from '../types.js';

const COL_W = 260;
const GAP_X = 60;
const GAP_Y = 24;
const HEAD_H = 44;
const NODE_H = 20;
const TASK_H = 20;
const PAD = 10;

interface Box {
  stage: StageView;
  x: number;
  y: number;
  h: number;
}

/** Each stage's level: 0 without needs, else one more than the deepest stage it needs. */
export function levels(stages: StageView[]): Map<string, number> {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const level = new Map<string, number>();
  const visit = (name: string, seen: Set<string>): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    if (seen.has(name)) return 0; // a cycle never reaches the UI (the parser refuses it); stay safe
    seen.add(name);
    const needs = byName.get(name)?.needs ?? [];
    const l = needs.length === 0 ? 0 : Math.max(...needs.map((n) => visit(n, seen) + 1));
    level.set(name, l);
    return l;
  };
  for (const s of stages) visit(s.name, new Set());
  return level;
}

function boxHeight(s: StageView): number {
  const tasks = s.nodes.reduce((n, node) => n + Math.max(1, node.tasks.length), 0);
  return HEAD_H + s.nodes.length * NODE_H + tasks * TASK_H + PAD;
}

function layout(stages: StageView[]): { boxes: Map<string, Box>; width: number; height: number } {
  const lv = levels(stages);
  const columns: StageView[][] = [];
  for (const s of stages) {
    const l = lv.get(s.name) ?? 0;
    const column = columns[l] ?? [];
    column.push(s);
    columns[l] = column;
  }
  const boxes = new Map<string, Box>();
  let height = 0;
  columns.forEach((col, i) => {
    let y = GAP_Y;
    for (const s of col ?? []) {
      const h = boxHeight(s);
      boxes.set(s.name, { stage: s, x: GAP_X / 2 + i * (COL_W + GAP_X), y, h });
      y += h + GAP_Y;
    }
    height = Math.max(height, y);
  });
  return { boxes, width: columns.length * (COL_W + GAP_X), height };
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function StageGraph({ jobId, stages, now }: { jobId: number; stages: StageView[]; now: number }) {
  const { boxes, width, height } = layout(stages);
  const edges: Array<{ from: Box; to: Box }> = [];
  for (const b of boxes.values()) {
    for (const n of b.stage.needs) {
      const from = boxes.get(n);
      if (from) edges.push({ from, to: b });
    }
  }
  return (
    <div class="graph-wrap">
      <svg
        class="graph"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`Stage graph of job ${jobId}: ${stages.map((s) => `${s.name} ${s.status}`).join(', ')}`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" class="edge-head" />
          </marker>
        </defs>
        {edges.map(({ from, to }) => {
          const x1 = from.x + COL_W;
          const y1 = from.y + HEAD_H / 2;
          const x2 = to.x;
          const y2 = to.y + HEAD_H / 2;
          const mx = (x1 + x2) / 2;
          return (
            <path
              key={`${from.stage.name}->${to.stage.name}`}
              class="edge"
              d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`}
              marker-end="url(#arrow)"
            />
          );
        })}
        {[...boxes.values()].map((b) => (
          <StageBox key={b.stage.name} box={b} jobId={jobId} now={now} />
        ))}
      </svg>
    </div>
  );
}

function StageBox({ box, jobId, now }: { box: Box; jobId: number; now: number }) {
  const s = box.stage;
  let y = box.y + HEAD_H;
  const rows = [];
  for (const node of s.nodes) {
    rows.push(
      <text key={`n-${node.name}`} x={box.x + PAD} y={y + 14} class="g-node">
        {clip(`on ${node.name}${node.host ? ` (${node.host})` : ''}`, 36)}
      </text>,
    );
    y += NODE_H;
    if (node.tasks.length === 0) {
      rows.push(
        <text key={`e-${node.name}`} x={box.x + PAD * 2} y={y + 14} class="g-muted">
          not started
        </text>,
      );
      y += TASK_H;
    }
    for (const t of node.tasks) {
      const href = `/jobs/${jobId}/tasks/${t.id}`;
      const time = span(t.startedAt, t.endedAt, now);
      rows.push(
        <a
          key={`t-${t.id}`}
          href={href}
          class="g-task"
          aria-label={`${s.name}/${node.name}/${t.name}: ${t.status}${time ? `, ${time}` : ''}; open its log`}
          onClick={(e) => {
            e.preventDefault();
            navigate(href);
          }}
        >
          <rect
            x={box.x + PAD}
            y={y + 2}
            width={COL_W - PAD * 2}
            height={TASK_H - 4}
            rx="3"
            class={`g-chip s-${t.status}`}
          />
          <text x={box.x + PAD * 2} y={y + 14} class="g-task-text">
            {clip(`${t.longRunning ? '⟳ ' : ''}${t.name}`, 18)}
          </text>
          <text x={box.x + COL_W - PAD * 2} y={y + 14} class="g-task-text" text-anchor="end">
            {t.status}
            {time ? ` · ${time}` : ''}
          </text>
        </a>,
      );
      y += TASK_H;
    }
  }
  return (
    <g class={`g-stage s-${s.status}`} data-stage={s.name}>
      <rect x={box.x} y={box.y} width={COL_W} height={box.h} rx="6" class="g-box" />
      <rect x={box.x} y={box.y} width="6" height={box.h} rx="3" class="g-bar" />
      <text x={box.x + PAD + 4} y={box.y + 18} class="g-title">
        {clip(s.name, 32)}
      </text>
      <text x={box.x + PAD + 4} y={box.y + 34} class="g-status">
        {s.type === 'longRunning' ? 'long-running · ' : s.type === 'stopper' ? 'stopper · ' : ''}
        {s.status}
      </text>
      {rows}
    </g>
  );
}
