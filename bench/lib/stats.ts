/** Percentiles and summaries. Percentiles interpolate linearly between the closest ranks. */

export function percentile(values: number[], p: number): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  if (v.length === 1) return v[0] as number;
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = v[lo] as number;
  const b = v[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export function mean(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length;
}

/** Which way is better: for ratios and targets. */
export type Better = 'higher' | 'lower';

/**
 * One measured quantity over the repetitions: each repetition gives one sample; the summary is the
 * median and the spread (min–max).
 */
export interface Metric {
  unit: string;
  better: Better;
  samples: number[];
  median: number;
  min: number;
  max: number;
  /** What it is, when the key does not say it all. */
  note?: string;
}

export function metric(unit: string, better: Better, samples: number[], note?: string): Metric {
  const v = samples.filter((x) => Number.isFinite(x));
  return {
    unit,
    better,
    samples,
    median: median(v),
    min: v.length ? Math.min(...v) : Number.NaN,
    max: v.length ? Math.max(...v) : Number.NaN,
    ...(note ? { note } : {}),
  };
}

/** Latency distribution of one run: p50, p99, max (and count). */
export interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function dist(values: number[]): Dist {
  const v = values.filter((x) => Number.isFinite(x));
  return {
    n: v.length,
    p50: percentile(v, 50),
    p90: percentile(v, 90),
    p99: percentile(v, 99),
    max: v.length ? Math.max(...v) : Number.NaN,
  };
}

/** A readable number: 3 significant digits, no exponent for ordinary magnitudes. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(2);
}
