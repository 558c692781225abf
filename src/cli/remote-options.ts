/** The options of every command that talks to a server. */
import type { Command } from 'commander';

/** Adds `--server` and `--token` to a command. */
export function withRemote(c: Command): Command {
  return c
    .option(
      '--server <url>',
      'a jobhub server (env JOBHUB_SERVER, or server: in ~/.config/jobhub/config.yaml)',
    )
    .option('--token <token>', 'API token for the server (env JOBHUB_TOKEN, or token: in the config file)');
}

/** Runs a command's action and hands its exit code on. */
export type Act = <A extends unknown[]>(
  fn: (...args: A) => number | Promise<number>,
) => (...args: A) => Promise<void>;
