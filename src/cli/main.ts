/** The `jobhub` command line: parses arguments, runs a command, maps errors to exit codes. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { exitCodeOf, JobhubError, SpecInvalidError } from '../core/errors.js';
import { eventsCommand, jobsCommand, logsCommand, showCommand } from './commands/inspect.js';
import { runCommand } from './commands/run.js';
import { planCommand, schemaCommand, validateCommand } from './commands/spec-tools.js';
import { type CliIO, println, processIO } from './io.js';
import { describeSpecErrors } from './spec-file.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const dataOption = () =>
  new Option('--data <dir>', 'data folder with the store and node working directories')
    .env('JOBHUB_DATA')
    .default(undefined, './.jobhub');

export function buildProgram(io: CliIO, exit: (code: number) => void): Command {
  const program = new Command('jobhub')
    .description(
      'jobhub: run pipelines of stages across nodes, with long-running services and a durable history.',
    )
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  const act =
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
    .addHelpText(
      'after',
      '\nExit codes: 0 succeeded, 1 failed, 2 invalid spec or usage, 130 stopped by Ctrl-C.\nCtrl-C stops the job cleanly; a second Ctrl-C kills its tasks at once.',
    )
    .action(
      act((file: string, opts: { data?: string; json?: boolean; stopGrace?: string }) =>
        runCommand(file, opts, io),
      ),
    );

  program
    .command('validate')
    .description('check a job spec; prints every problem with its line:column (exit 2 when invalid)')
    .argument('<file>', 'job spec, YAML or JSON (- for stdin)')
    .option('--json', 'print the normalized spec as JSON')
    .action(act((file: string, opts: { json?: boolean }) => validateCommand(file, opts, io)));

  program
    .command('schema')
    .description("print the job spec's JSON Schema (for editors)")
    .action(act(() => schemaCommand(io)));

  program
    .command('plan')
    .description('print the execution plan of a job spec without running anything')
    .argument('<file>', 'job spec')
    .option('--nodes <file>', 'plan against these nodes (YAML list of {name, role, ip, labels, capacity})')
    .option('--json', 'print the plan as JSON')
    .action(act((file: string, opts: { nodes?: string; json?: boolean }) => planCommand(file, opts, io)));

  program
    .command('jobs')
    .description('list jobs, newest first')
    .addOption(dataOption())
    .option(
      '--status <status...>',
      'only these statuses (queued, running, stopping, succeeded, failed, stopped)',
    )
    .option('--name <name>', 'only jobs with this name')
    .option('--limit <n>', 'at most n jobs (default 100)')
    .option('--start <n>', 'start at the n-th job (1-based, default 1)')
    .option('--json', 'print JSON')
    .action(act((opts: Parameters<typeof jobsCommand>[0]) => jobsCommand(opts, io)));

  program
    .command('show')
    .description('show a job: status of every stage and task on every node')
    .argument('<job>', 'job id')
    .addOption(dataOption())
    .option('--json', 'print JSON (job, stages, tasks)')
    .action(act((id: string, opts: { data?: string; json?: boolean }) => showCommand(id, opts, io)));

  program
    .command('logs')
    .description("print a job's logs, or one task's")
    .argument('<job>', 'job id')
    .addOption(dataOption())
    .option('--task <task>', 'only this task: stage/node/task, stage/task, a task name, or its id')
    .option('-t, --timestamps', 'prefix each line with its time')
    .action(act((id: string, opts: Parameters<typeof logsCommand>[1]) => logsCommand(id, opts, io)));

  program
    .command('events')
    .description("print a job's event history")
    .argument('<job>', 'job id')
    .addOption(dataOption())
    .option('--json', 'one JSON object per event')
    .action(act((id: string, opts: { data?: string; json?: boolean }) => eventsCommand(id, opts, io)));

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
    for (const line of describeSpecErrors(err, err.source ?? 'spec')) println(io.stderr, line);
    return exitCodeOf(err);
  }
  if (err instanceof JobhubError) {
    println(io.stderr, `jobhub: ${err.message}`);
    return exitCodeOf(err);
  }
  println(
    io.stderr,
    `jobhub: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  return exitCodeOf(err);
}
