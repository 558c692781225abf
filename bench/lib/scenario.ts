/** What a scenario gets and gives back. */
import type { Scope } from './scope.js';
import type { Metric } from './stats.js';

export interface Ctx {
  quick: boolean;
  /** Measured repetitions (3 full, 1 quick). */
  reps: number;
  runId: string;
  scope: Scope;
  log: (line: string) => void;
}

export interface Table {
  title: string;
  head: string[];
  rows: string[][];
}

/** jobhub against a baseline: value = jobhub / baseline (on medians), with per-repetition spread. */
export interface Ratio {
  what: string;
  value: number;
  /** Min–max of the ratio paired per repetition. */
  min: number;
  max: number;
  /** How to read it: 'higher is better for jobhub' etc. */
  better: 'higher' | 'lower';
}

export interface Target {
  what: string;
  goal: string;
  measured: string;
  /** null: could not be judged (not measured). */
  met: boolean | null;
}

export interface ScenarioResult {
  params: Record<string, unknown>;
  metrics: Record<string, Metric>;
  /** Raw data beyond the metrics: distributions per repetition, counts, sizes. */
  raw?: Record<string, unknown>;
  tables: Table[];
  ratios?: Ratio[];
  targets?: Target[];
  notes?: string[];
}

export interface Scenario {
  name: string;
  title: string;
  /** Upper bound of the whole scenario, cleanup excluded. */
  timeoutMs: (quick: boolean) => number;
  run: (ctx: Ctx) => Promise<ScenarioResult>;
}

/** Ratio of medians, with the spread of per-repetition ratios (paired by index). */
export function ratioOf(what: string, a: Metric, b: Metric, better: 'higher' | 'lower'): Ratio {
  const paired: number[] = [];
  for (let i = 0; i < Math.min(a.samples.length, b.samples.length); i++) {
    const x = a.samples[i];
    const y = b.samples[i];
    if (x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y) && y !== 0)
      paired.push(x / y);
  }
  return {
    what,
    value: a.median / b.median,
    min: paired.length ? Math.min(...paired) : Number.NaN,
    max: paired.length ? Math.max(...paired) : Number.NaN,
    better,
  };
}
