/** The CLI's view of its process: streams, environment, terminal facts. Passed in, so commands
 * never reach for globals. */
import type { Writable } from 'node:stream';
import type { Style } from './format.js';

export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  isTTY: boolean;
  columns: () => number;
}

export function processIO(): CliIO {
  // A reader that goes away (`jobhub run ... | head`) must not crash a process that runs tasks:
  // the rest of the output is dropped, the job goes on.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stdout.isTTY === true,
    // A pty may report 0 columns (script, some CI runners): fall back to $COLUMNS, then 100.
    columns: () => process.stdout.columns || Number(process.env.COLUMNS) || 100,
  };
}

export function styleOf(io: CliIO): Style {
  const forced = io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== '0';
  return { color: forced || (io.isTTY && io.env.NO_COLOR === undefined && io.env.TERM !== 'dumb') };
}

export function println(stream: Writable, text = ''): void {
  stream.write(`${text}\n`);
}
