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
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stdout.isTTY === true,
    columns: () => process.stdout.columns ?? 100,
  };
}

export function styleOf(io: CliIO): Style {
  const forced = io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== '0';
  return { color: forced || (io.isTTY && io.env.NO_COLOR === undefined && io.env.TERM !== 'dumb') };
}

export function println(stream: Writable, text = ''): void {
  stream.write(`${text}\n`);
}
