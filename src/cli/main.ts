/** The `jobhub` command line: parses arguments, runs a command, maps errors to exit codes. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { ServerFlags } from '../app/server-config.js';
import { exitCodeOf, formatProblem, JobhubError, SpecInvalidError, systemErrorOf } from '../core/errors.js';
import type { AgentFlags } from './commands/agent.js';
import type { SubmitOptions } from './commands/control.js';
import type { JobsOptions, LogsOptions } from './commands/inspect.js';
import { registerIdentityCommands } from './identity-program.js';
import { type CliIO, println, processIO } from './io.js';
import { type Act, withRemote } from './remote-options.js';
import { registerTemplateCommands } from './template-program.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const dataOption = () =>
  new Option('--data <dir>', 'data folder with the store and node working directories')
    .env('JOBHUB_DATA')
    .default(undefined, './.jobhub');

/** A repeatable option's values, in order (`--param a=1 --param b=2`). */
const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function buildProgram(io: CliIO, exit: (code: number) => void): Command {
  const program = new Command('jobhub')
    .description(
      'jobhub: run pipelines of stages across nodes, with long-running services and a durable history.',
    )
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  const act: Act =
    <A extends unknown[]>(fn: (...args: A) => number | Promise<number>) =>
    async (...args: A) => {
      exit(await fn(...args));
    };

  program
    .command('run')
    .description('run a job spec here, on local nodes (one per node assignment), and show it live')
    .argument('<file>', 'job spec, YAML or JSON (- for stdin)')
    .addOption(dataOption())
    .option('--json', 'stream events as JSON lines instead of the live view')
    .option('--stop-grace <duration>', 'time between SIGTERM and SIGKILL when stopping tasks (default 10s)')
    .option('--param <name=value>', "a value for one of the spec's params (repeatable)", collect, [])
    .option('--ui', 'also serve the web UI and the API on 127.0.0.1 while the job runs (prints the URL)')
    .option('--ui-port <port>', 'port of the web UI with --ui (default 0: a free port)')
    .addHelpText(
      'after',
      '\nExit codes: 0 succeeded, 1 failed, 2 invalid spec or usage, 130 stopped by Ctrl-C.\nCtrl-C stops the job cleanly; a second Ctrl-C kills its tasks at once.',
    )
    .action(
      act(async (file: string, opts: import('./commands/run.js').RunOptions) =>
        (await import('./commands/run.js')).runCommand(file, opts, io),
      ),
    );

  program
    .command('validate')
    .description('check a job spec; prints every problem with its line:column (exit 2 when invalid)')
    .argument('<file>', 'job spec, YAML or JSON (- for stdin)')
    .option('--json', 'print the normalized spec as JSON')
    .action(
      act(async (file: string, opts: { json?: boolean }) =>
        (await import('./commands/spec-tools.js')).validateCommand(file, opts, io),
      ),
    );

  program
    .command('schema')
    .description("print the job spec's JSON Schema (for editors)")
    .action(act(async () => (await import('./commands/spec-tools.js')).schemaCommand(io)));

  program
    .command('plan')
    .description('print the execution plan of a job spec without running anything')
    .argument('<file>', 'job spec')
    .option('--nodes <file>', 'plan against these nodes (YAML list of {name, role, ip, labels, capacity})')
    .option('--json', 'print the plan as JSON')
    .action(
      act(async (file: string, opts: { nodes?: string; json?: boolean }) =>
        (await import('./commands/spec-tools.js')).planCommand(file, opts, io),
      ),
    );

  const remote = withRemote;

  remote(
    program
      .command('jobs')
      .description('list jobs, newest first (from the server, or the local data folder)')
      .addOption(dataOption())
      .option(
        '--status <status...>',
        'only these statuses (queued, running, stopping, succeeded, failed, stopped)',
      )
      .option('--name <name>', 'only jobs with this name')
      .option('--owner <owner>', 'only jobs of this owner (name or id)')
      .option('--template <name>', 'only jobs submitted from this template')
      .option('--label <k=v...>', 'only jobs with these labels')
      .option('--limit <n>', 'at most n jobs (default 100)')
      .option('--start <n>', 'start at the n-th job (1-based, default 1)')
      .option('--json', 'print JSON'),
  ).action(act(async (opts: JobsOptions) => (await import('./commands/inspect.js')).jobsCommand(opts, io)));

  remote(
    program
      .command('show')
      .description('show a job: status of every stage and task on every node')
      .argument('<job>', 'job id')
      .addOption(dataOption())
      .option('--json', 'print JSON (job, stages, tasks)'),
  ).action(
    act(async (id: string, opts: { data?: string; json?: boolean }) =>
      (await import('./commands/inspect.js')).showCommand(id, opts, io),
    ),
  );

  remote(
    program
      .command('logs')
      .description("print a job's logs, or one task's")
      .argument('<job>', 'job id')
      .addOption(dataOption())
      .option('--task <task>', 'only this task: stage/node/task, stage/task, a task name, or its id')
      .option('-t, --timestamps', 'prefix each line with its time')
      .option('-f, --follow', 'keep printing new lines until the job ends'),
  ).action(
    act(async (id: string, opts: LogsOptions) =>
      (await import('./commands/inspect.js')).logsCommand(id, opts, io),
    ),
  );

  remote(
    program
      .command('events')
      .description("print a job's event history, or every event")
      .argument('[job]', 'job id (default: all events)')
      .addOption(dataOption())
      .option('-f, --follow', 'keep printing new events (until the job ends)')
      .option('--json', 'one JSON object per event'),
  ).action(
    act(async (id: string | undefined, opts: { data?: string; json?: boolean; follow?: boolean }) =>
      (await import('./commands/inspect.js')).eventsCommand(id, opts, io),
    ),
  );

  remote(
    program
      .command('submit')
      .description('submit a job spec (or a stored template) to a server')
      .argument('[file]', 'job spec, YAML or JSON (- for stdin); or give --template')
      .option('--template <name[@version]>', 'submit this stored template (default: its newest version)')
      .option('--param <name=value>', "a value for one of the spec's params (repeatable)", collect, [])
      .option('--wait', 'follow the job until it ends; exit 0 when it succeeded, 1 otherwise')
      .option(
        '--input <file...>',
        "upload these files as the job's inputs (name=path to name one): submitted held, uploaded, released",
      )
      .option('--json', 'print JSON'),
  ).action(
    act(async (file: string | undefined, opts: SubmitOptions) =>
      (await import('./commands/control.js')).submitCommand(file, opts, io),
    ),
  );

  remote(
    program
      .command('stop')
      .description('stop a job (on a server, or the local jobhub run holding it)')
      .argument('<job>', 'job id')
      .addOption(dataOption())
      .option('--force', 'kill its tasks at once')
      .option('--json', 'print JSON'),
  ).action(
    act(async (id: string, opts: { data?: string; force?: boolean; json?: boolean }) =>
      (await import('./commands/control.js')).stopCommand(id, opts, io),
    ),
  );

  remote(
    program
      .command('retry')
      .description("submit a job's spec again, as a new job linked to it")
      .argument('<job>', 'job id')
      .option('--json', 'print JSON'),
  ).action(
    act(async (id: string, opts: { json?: boolean }) =>
      (await import('./commands/control.js')).retryCommand(id, opts, io),
    ),
  );

  remote(
    program
      .command('nodes')
      .description('list nodes: state, role, address, labels, capacity')
      .addOption(dataOption())
      .option('--json', 'print JSON'),
  ).action(
    act(async (opts: { data?: string; json?: boolean }) =>
      (await import('./commands/control.js')).nodesCommand(opts, io),
    ),
  );

  remote(
    program
      .command('drain')
      .description('drain a node: no new work; what runs finishes (--undo ends it)')
      .argument('<node>', 'node id')
      .option('--undo', 'end the draining')
      .option('--json', 'print JSON'),
  ).action(
    act(async (id: string, opts: { undo?: boolean; json?: boolean }) =>
      (await import('./commands/control.js')).drainCommand(id, opts, io),
    ),
  );

  // (files) A job's files, downloads, workspaces.
  remote(
    program
      .command('files')
      .description("list a job's files: inputs, outputs, kept working directories")
      .argument('<job>', 'job id')
      .addOption(dataOption())
      .option('--tree', 'as a tree of folders')
      .option('--json', 'print JSON'),
  ).action(
    act(async (id: string, opts: { data?: string; tree?: boolean; json?: boolean }) =>
      (await import('./commands/files.js')).filesCommand(id, opts, io),
    ),
  );

  remote(
    program
      .command('download')
      .description("download a job's file, a folder of them, or all (checksums verified)")
      .argument('<job>', 'job id')
      .argument('[path]', 'a file or folder of the job (see jobhub files); default: every file')
      .addOption(dataOption())
      .option('-o, --output <dir>', 'where to put it (default: . for a file, ./job-<id> for a folder)'),
  ).action(
    act(async (id: string, p: string | undefined, opts: { data?: string; output?: string }) =>
      (await import('./commands/files.js')).downloadCommand(id, p, opts, io),
    ),
  );

  const workspace = program
    .command('workspace')
    .description('workspaces: archives that jobs run fresh copies of (spec: workspace: NAME)');
  remote(
    workspace
      .command('push')
      .description('upload an archive (tar.gz, tar or zip) as a workspace')
      .argument('<archive>', 'the archive')
      .option('--name <name>', 'workspace name (default: the file name)')
      .option('--owner <org>', "share it with an org's members (default: yours alone; server only)")
      .addOption(dataOption())
      .option('--json', 'print JSON'),
  ).action(
    act(async (archive: string, opts: { name?: string; owner?: string; data?: string; json?: boolean }) =>
      (await import('./commands/files.js')).workspacePushCommand(archive, opts, io),
    ),
  );
  remote(
    workspace
      .command('list')
      .description('list workspaces, newest first')
      .addOption(dataOption())
      .option('--json', 'print JSON'),
  ).action(
    act(async (opts: { data?: string; json?: boolean }) =>
      (await import('./commands/files.js')).workspaceListCommand(opts, io),
    ),
  );

  // Schedules: templates submitted by cron.
  const schedules = () => import('./commands/schedules.js');
  const schedule = program
    .command('schedule')
    .description("templates' cron schedules: the server submits the template on time, once");
  remote(
    schedule
      .command('set')
      .description('give a template a cron schedule (or change it)')
      .argument('<template>', 'template name')
      .requiredOption(
        '--cron <expr>',
        'minute hour day-of-month month day-of-week, e.g. "0 3 * * 1-5", or @daily',
      )
      .option('--timezone <zone>', 'IANA time zone of the cron times, e.g. Europe/Rome (default UTC)')
      .option('--param <name=value>', 'a parameter value for every run (repeatable)', collect, [])
      .option('--pin-version <n>', 'pin this template version (default: the newest at each run)')
      .option('--json', 'print JSON'),
  ).action(
    act(async (template: string, opts: object) => (await schedules()).scheduleSetCommand(template, opts, io)),
  );
  remote(
    schedule.command('list').description('list schedules: next run, last run').option('--json', 'print JSON'),
  ).action(act(async (opts: object) => (await schedules()).scheduleListCommand(opts, io)));
  remote(
    schedule
      .command('show')
      .description("a template's schedule")
      .argument('<template>', 'template name')
      .option('--json', 'print JSON'),
  ).action(
    act(async (template: string, opts: object) =>
      (await schedules()).scheduleShowCommand(template, opts, io),
    ),
  );
  for (const paused of [true, false]) {
    remote(
      schedule
        .command(paused ? 'pause' : 'resume')
        .description(
          paused ? 'pause a schedule' : 'resume a schedule (from its next tick; missed ones are not made up)',
        )
        .argument('<template>', 'template name'),
    ).action(
      act(async (template: string, opts: object) =>
        (await schedules()).schedulePauseCommand(template, paused, opts, io),
      ),
    );
  }
  remote(
    schedule
      .command('rm')
      .description("remove a template's schedule")
      .argument('<template>', 'template name'),
  ).action(
    act(async (template: string, opts: object) =>
      (await schedules()).scheduleRemoveCommand(template, opts, io),
    ),
  );

  // Locks (seed 002).
  const locks = () => import('./commands/locks.js');
  remote(
    program
      .command('locks')
      .description(
        'list locks: state, capacity, the jobs holding each and the queue (first come, first served)',
      )
      .addOption(dataOption())
      .option('--json', 'print JSON'),
  ).action(act(async (opts: { data?: string; json?: boolean }) => (await locks()).locksCommand(opts, io)));
  const lock = program.command('lock').description('declare, remove or break a lock (server admins)');
  remote(
    lock
      .command('set')
      .description('declare a lock with a capacity: at most N jobs hold it at once (a semaphore)')
      .argument('<name>', 'lock name')
      .requiredOption('--capacity <n>', 'how many jobs may hold it at once'),
  ).action(
    act(async (name: string, opts: { capacity?: string }) => (await locks()).lockSetCommand(name, opts, io)),
  );
  remote(lock.command('rm').description('remove a lock declaration').argument('<name>', 'lock name')).action(
    act(async (name: string, opts: object) => (await locks()).lockRemoveCommand(name, opts, io)),
  );
  remote(
    lock
      .command('break')
      .description('break a lock: its holders hold it no more (they keep running); the next job takes it')
      .argument('<name>', 'lock name'),
  ).action(act(async (name: string, opts: object) => (await locks()).lockBreakCommand(name, opts, io)));

  program
    .command('store')
    .description('work on a store')
    .command('copy')
    .description('copy a SQLite store (jobs, events, logs, nodes, tokens) into an empty PostgreSQL database')
    .requiredOption('--from <dir>', 'the data folder of the SQLite store (e.g. ./.jobhub-server)')
    .requiredOption('--to <url>', 'postgres://... URL of the target (?schema=name to choose a schema)')
    .action(
      act(async (opts: { from: string; to: string }) =>
        (await import('./commands/store.js')).storeCopyCommand(opts, io),
      ),
    );

  program
    .command('server')
    .description(
      'run the central server: the store, the REST API (/api/v1, docs at /docs) and the agent gateway',
    )
    .option('--port <port>', 'port to listen on (default 8081, env JOBHUB_PORT)')
    .option('--host <host>', 'address to listen on (default 0.0.0.0)')
    .option('--data <dir>', 'data folder of the store (default ./.jobhub-server, env JOBHUB_DATA)')
    .option(
      '--database <url>',
      'a postgres:// URL: the store, shared by server replicas (env JOBHUB_DATABASE_URL)',
    )
    .option('--database-schema <name>', 'PostgreSQL schema (default public, env JOBHUB_DATABASE_SCHEMA)')
    .option('--heartbeat <duration>', 'heartbeat period of agents and server (default 5s)')
    .option(
      '--heartbeat-timeout <duration>',
      'silence after which a node is down and its tasks lost (default 30s)',
    )
    .option(
      '--stop-grace <duration>',
      'time between SIGTERM and SIGKILL when tasks are stopped (default 10s)',
    )
    .option('--max-file-size <size>', 'largest job file or workspace archive (default 1GiB)')
    .option('--max-job-files-size <size>', "largest sum of one job's files (default 10GiB)")
    .option('--retention <duration>', 'remove the files of jobs ended longer ago, e.g. 30d (default: keep)')
    .option('--files-dir <dir>', 'where file contents are kept (default <data>/blobs, env JOBHUB_FILES_DIR)')
    .option(
      '--backends <file>',
      'external backends (Jenkins, webhook) file, YAML or JSON (env JOBHUB_BACKENDS)',
    )
    .option('--public-url <url>', 'the URL backends reach this server at (env JOBHUB_PUBLIC_URL)')
    .option('--tls-cert <pem>', 'serve HTTPS (and WSS to agents) with this certificate (env JOBHUB_TLS_CERT)')
    .option('--tls-key <pem>', 'the private key of --tls-cert (env JOBHUB_TLS_KEY)')
    .option(
      '--rate-limit <n>',
      'requests a second per API token, bursts of twice that; 0: off (default 200, env JOBHUB_RATE_LIMIT)',
    )
    .option(
      '--headers-timeout <duration>',
      'time a client has to send its request headers (default 20s, env JOBHUB_HEADERS_TIMEOUT)',
    )
    .option(
      '--request-timeout <duration>',
      'time a client has to send a whole request, uploads included; 0: no limit (default 10m, env JOBHUB_REQUEST_TIMEOUT)',
    )
    .option(
      '--keep-alive-timeout <duration>',
      'an idle keep-alive connection is closed after this (default 72s, env JOBHUB_KEEP_ALIVE_TIMEOUT)',
    )
    .option(
      '--shutdown-grace <duration>',
      'on SIGTERM, time requests under way get to finish before their connections are closed (default 10s, env JOBHUB_SHUTDOWN_GRACE)',
    )
    .addHelpText(
      'after',
      '\nTokens: on first start an admin and an agent token are made and printed once, unless\nJOBHUB_ADMIN_TOKEN and JOBHUB_AGENT_TOKEN give them. See `jobhub token --help`.',
    )
    .action(act(async (opts: ServerFlags) => (await import('./commands/server.js')).serverCommand(opts, io)));

  program
    .command('agent')
    .description('run an agent: join a server as a node and run the tasks it is sent')
    .option('--server <urls>', 'server URL, or several separated by commas (env JOBHUB_SERVER)')
    .option('--token <token>', 'agent token (env JOBHUB_AGENT_TOKEN)')
    .option('--role <role>', 'preferred role of this node, e.g. database or loader (default any)')
    .option('--label <k=v...>', 'node labels, used by selectors')
    .option('--data <dir>', 'node id, working directories and outbox (default ./.jobhub-agent)')
    .option('--ip <ip>', 'the address other nodes reach this one at (default: as the server sees it)')
    .option('--name <name>', 'node name (default: the hostname)')
    .option('--provider <provider>', 'where the machine comes from: local, aws, ... (default local)')
    .option(
      '--stop-grace <seconds>',
      'seconds between SIGTERM and SIGKILL when tasks are stopped (default 10)',
    )
    .option('--ca-file <pem>', 'a CA certificate to trust for an https server')
    .option('--concurrency <n>', 'tasks run here at once; more wait on the server (default 0: no limit)')
    .option('--run-as <user>', 'run every task as this OS user (name or uid); the agent must run as root')
    .action(act(async (opts: AgentFlags) => (await import('./commands/agent.js')).agentCommand(opts, io)));

  registerIdentityCommands(program, io, act);
  registerTemplateCommands(program, io, act);
  return program;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; usage errors 2 (commander already printed the message)
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof SpecInvalidError) {
    const file = err.source ?? 'spec';
    for (const p of err.problems) println(io.stderr, formatProblem(p, file));
    println(io.stderr, `${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in ${file}`);
    return exitCodeOf(err);
  }
  const known = err instanceof JobhubError ? err : systemErrorOf(err); // e.g. an unusable data folder
  if (known) {
    println(io.stderr, `jobhub: ${known.message}`);
    return exitCodeOf(known);
  }
  println(
    io.stderr,
    `jobhub: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  return exitCodeOf(err);
}
