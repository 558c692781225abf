/**
 * Cron schedules of templates: every replica looks for due schedules each second, and each due
 * tick is claimed with a conditional update of the schedule's `next_at` (store.claimScheduleTick),
 * so exactly one replica submits it. The next tick is the first one after now: ticks missed while
 * no server ran are not made up one by one; the overdue one fires once, then the schedule goes on.
 *
 * A claimed tick that cannot make a job (the template is gone, its parameters changed) records why
 * on the schedule (`lastError`) and in the audit log. A replica killed between its claim and the
 * submission loses that tick: at most once, never twice.
 */
import { nextFire, parseCron } from '../core/cron.js';
import type { SubmitInput } from '../engine/job-factory.js';
import type { JobRecord, ScheduleRecord, Store } from '../store/store.js';
import { audit } from './audit.js';
import { checkSecrets, specToRun } from './submission.js';
import { ownerTemplateResolver } from './workflows.js';

export interface SchedulerOptions {
  store: Store;
  /** Creates the job (the control plane: on the lease holder, or handed to it). */
  submit: (input: SubmitInput) => Promise<JobRecord>;
  log: (line: string) => void;
  /** Default Date.now. */
  now?: () => number;
  /** How often due schedules are looked for. Default 1000 ms. */
  pollMs?: number;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Fires every due schedule this replica wins the tick of; returns how many jobs it made. */
  tick(): Promise<number> {
    // One pass at a time: a slow submission must not start a second pass over the same ticks.
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    const now = this.now();
    let made = 0;
    let due: ScheduleRecord[];
    try {
      due = await this.opts.store.dueSchedules(now);
    } catch (err) {
      this.opts.log(`schedules: ${String(err)}`);
      return 0;
    }
    for (const s of due) {
      let next: number;
      try {
        next = nextFire(parseCron(s.cron, s.timezone), now);
      } catch (err) {
        // Checked when set; a zone database that changed could still refuse it: park it a day.
        next = now + 24 * 3600_000;
        await this.opts.store.recordScheduleRun(s.template, { jobId: null, error: String(err) });
      }
      if (!(await this.opts.store.claimScheduleTick(s.template, s.nextAt, next, now))) continue;
      try {
        const job = await this.fire(s, now);
        await this.opts.store.recordScheduleRun(s.template, { jobId: job.id, error: null });
        made++;
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        await this.opts.store.recordScheduleRun(s.template, { jobId: null, error: why });
        await audit(this.opts.store, 'scheduler', {
          action: 'schedule.failed',
          details: { template: s.template, tick: new Date(s.nextAt).toISOString(), error: why },
        });
        this.opts.log(`schedule of template ${s.template}: no job made: ${why}`);
      }
    }
    return made;
  }

  /** Submits the schedule's template (pinned version or newest) with its parameters. */
  private async fire(s: ScheduleRecord, now: number): Promise<JobRecord> {
    const t = await this.opts.store.getTemplate(s.template, s.templateVersion ?? undefined);
    if (!t) {
      throw new Error(
        `template ${s.template}${s.templateVersion !== null ? `@${s.templateVersion}` : ''} does not exist any more`,
      );
    }
    const owner = s.owner ?? t.owner;
    // A workflow template: its `use` stages become the stages of the templates its owner has.
    const { spec, params } = await specToRun(
      t.rawSpec,
      s.params,
      ownerTemplateResolver(this.opts.store, owner),
      {
        template: t.name,
      },
    );
    if (owner) await checkSecrets(this.opts.store, spec, owner);
    const job = await this.opts.submit({
      spec,
      rawSpec: t.rawSpec,
      owner,
      submitter: s.submitter,
      params,
      template: { name: t.name, version: t.version },
    });
    await audit(
      this.opts.store,
      'scheduler',
      {
        action: 'job.submit',
        jobId: job.id,
        details: {
          schedule: s.template,
          tick: new Date(s.nextAt).toISOString(),
          template: `${t.name}@${t.version}`,
          submitter: s.submitter,
        },
      },
      now,
    );
    return job;
  }
}
