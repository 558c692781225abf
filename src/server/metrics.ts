/**
 * Prometheus metrics, kept in memory and rendered in the text exposition format at /metrics.
 * Counters, gauges read at render time, and histograms with fixed buckets.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values())
      out.push(`${this.name}${labelText(labels)} ${value}`);
    return out;
  }
}

class Histogram {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds, in seconds. */
    readonly buckets: number[],
  ) {}

  observe(seconds: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (const [i, le] of this.buckets.entries()) if (seconds <= le) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += seconds;
    s.count++;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      for (const [i, le] of this.buckets.entries()) {
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.counts[i] ?? 0}`);
      }
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class Metrics {
  readonly tasksStarted = new Counter('jobhub_tasks_started_total', 'Task attempts dispatched to agents.');
  readonly jobsSubmitted = new Counter('jobhub_jobs_submitted_total', 'Jobs submitted.');
  readonly dispatchLatency = new Histogram(
    'jobhub_dispatch_latency_seconds',
    'From a task becoming runnable (its job submitted, or the step before it ending) to its dispatch.',
    LATENCY_BUCKETS,
  );
  readonly httpLatency = new Histogram(
    'jobhub_http_request_duration_seconds',
    'HTTP request latency.',
    LATENCY_BUCKETS,
  );
  /** Gauges computed when scraped. */
  private readonly gauges: Array<{ name: string; help: string; read: () => Array<[Labels, number]> }> = [];

  gauge(name: string, help: string, read: () => Array<[Labels, number]>): void {
    this.gauges.push({ name, help, read });
  }

  render(): string {
    const lines: string[] = [];
    for (const g of this.gauges) {
      lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const [labels, value] of g.read()) lines.push(`${g.name}${labelText(labels)} ${value}`);
    }
    lines.push(
      ...this.jobsSubmitted.render(),
      ...this.tasksStarted.render(),
      ...this.dispatchLatency.render(),
      ...this.httpLatency.render(),
    );
    return `${lines.join('\n')}\n`;
  }
}
