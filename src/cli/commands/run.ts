/** `jobhub run job.yaml`: the embedded default: validate, plan, run on local nodes, show it live. */
import os from 'node:os';
import { resolveConfig } from '../../app/config.js';
import { type Embedded, startEmbedded } from '../../app/embedded.js';
import { type EmbeddedUi, startEmbeddedUi } from '../../app/embedded-ui.js';
import { recoverOrphans } from '../../app/orphans.js';
import { claimJob, releaseJob } from '../../app/run-claims.js';
import { formatDuration } from '../../core/duration.js';
import { JobhubError } from '../../core/errors.js';
import { refuseUses } from '../../plan/workflow.js';
import { applyParams, parseParamArgs } from '../../spec/params.js';
import type { JobRecord, Store } from '../../store/store.js';
import { mark, paint, type Style } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { LiveView } from '../live-view.js';
import { reportOrphans } from '../open-store.js';
import { readSpecFile } from '../spec-file.js';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface RunOptions {
  data?: string;
  json?: boolean;
  stopGrace?: string;
  /** Parameter values, `name=value` (default none). */
  param?: string[];
  /** Serve the web UI and the API on 127.0.0.1 while the job runs. Default false. */
  ui?: boolean;
  /** The UI's port (with `ui`). Default 0: a free port. */
  uiPort?: string;
}

/** Exit codes: 0 succeeded, 1 failed, 2 invalid spec, 130 stopped by Ctrl-C (143 by SIGTERM). */
export async function runCommand(file: string, opts: RunOptions, io: CliIO): Promise<number> {
  const loaded = readSpecFile(file);
  // Parameter errors exit 2 before anything starts, as spec errors do.
  const bound = applyParams(loaded.spec, parseParamArgs(opts.param));
  refuseUses(bound.spec); // templates live on a server: nothing here can expand a `use`
  const config = resolveConfig({ data: opts.data, stopGrace: opts.stopGrace }, io.env, io.cwd);
  const style = styleOf(io);
  const app = await startEmbedded(config);
  reportOrphans(await recoverOrphans(app.store, config.dataDir), io);
  const ui = opts.ui ? await startUi(app, opts.uiPort, io) : undefined;
  let signal: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    const force = signal !== undefined;
    signal ??= sig;
    if (!force)
      println(
        io.stderr,
        `\njobhub: stopping job ${job.id} (${sig}; press Ctrl-C again to kill its tasks now)`,
      );
    void app.coordinator
      .requestStop(job.id, sig === 'SIGINT' ? 'interrupted (Ctrl-C)' : `received ${sig}`, { force })
      .catch(() => {});
  };
  const mode = opts.json ? 'json' : io.isTTY ? 'tty' : 'lines';
  const view = new LiveView({
    store: app.store,
    bus: app.bus,
    out: io.stdout,
    mode,
    style,
    columns: io.columns,
  });
  view.listen();
  const job = await app.coordinator.submit({
    spec: bound.spec,
    rawSpec: loaded.text,
    // Who ran it: the local user (tasks see it as JOBHUB_SUBMITTER).
    submitter: localUser(),
    params: (loaded.spec.params?.length ?? 0) > 0 ? bound.params : null,
  });
  claimJob(config.dataDir, job.id);
  // A closed terminal (SIGHUP) stops the job cleanly too: its tasks must not outlive it.
  for (const sig of SIGNALS) process.on(sig, onSignal);
  // If this process is about to die of a bug, its tasks die first rather than run on unwatched.
  const onCrash = (err: unknown) => {
    app.nodes.killNow([job.id]);
    process.stderr.write(`jobhub: internal error, job ${job.id}'s tasks were killed: ${String(err)}\n`);
    process.exit(3);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  view.follow(job.id);
  try {
    const final = await app.coordinator.waitForEnd(job.id);
    await view.stop();
    if (!opts.json) await printSummary(final, app.store, io, style, opts.data);
    if (final.status === 'succeeded') return 0;
    if (final.status === 'stopped' && signal) return 128 + (os.constants.signals[signal] ?? 0);
    return 1;
  } finally {
    for (const sig of SIGNALS) process.off(sig, onSignal);
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await ui?.close();
    await app.close();
    releaseJob(config.dataDir, job.id);
  }
}

async function printSummary(
  job: JobRecord,
  store: Store,
  io: CliIO,
  style: Style,
  data?: string,
): Promise<void> {
  const took =
    job.startedAt !== null && job.endedAt !== null
      ? ` in ${formatDuration(job.endedAt - job.startedAt)}`
      : '';
  const reason = job.reason ? `: ${job.reason}` : '';
  println(io.stdout, `${mark(style, job.status)} job ${job.id} ${job.name} ${job.status}${took}${reason}`);
  if (job.status === 'failed') {
    const detail = await store.getJobDetail(job.id);
    for (const t of detail?.tasks.filter((x) => x.status === 'failed' || x.status === 'lost') ?? []) {
      const lines = await store.readLogs({ jobId: job.id, taskId: t.id });
      const tail = lines.filter((l) => l.attempt === t.attempt).slice(-20);
      println(
        io.stdout,
        paint(
          style,
          'gray',
          `--- ${t.stage}/${t.node}/${t.name}: last ${tail.length} lines of attempt ${t.attempt} ---`,
        ),
      );
      for (const l of tail) println(io.stdout, l.text);
    }
  }
  const dataFlag = data ? ` --data ${data}` : '';
  println(
    io.stdout,
    paint(
      style,
      'gray',
      `details: jobhub show ${job.id}${dataFlag}   logs: jobhub logs ${job.id}${dataFlag}`,
    ),
  );
}

function localUser(): string | null {
  try {
    return os.userInfo().username;
  } catch {
    return null; // no passwd entry for this uid (some containers)
  }
}

/** Starts the web UI for `--ui` and prints where it is and the token to sign in with. */
async function startUi(app: Embedded, port: string | undefined, io: CliIO): Promise<EmbeddedUi> {
  const n = port === undefined ? 0 : Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new JobhubError('bad_request', `--ui-port must be a port number (0-65535), not "${port}"`);
  }
  const given = io.env.JOBHUB_ADMIN_TOKEN;
  const ui = await startEmbeddedUi(app, { port: n, ...(given ? { adminToken: given } : {}) });
  const how = given ? 'the token in JOBHUB_ADMIN_TOKEN' : `the token ${ui.token}`;
  println(io.stderr, `jobhub: web UI at ${ui.url} (sign in with ${how})`);
  return ui;
}
