/** Waiting for the signal that ends a long-running command (server, agent). */
import { type CliIO, println } from './io.js';

export /** Runs until SIGINT/SIGTERM; then stops gracefully (a second signal exits at once). */
function untilSignal(io: CliIO, stop: () => Promise<void>, what: string): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        println(io.stderr, `jobhub: ${sig} again: exiting now`);
        resolve(1);
        return;
      }
      stopping = true;
      println(io.stderr, `jobhub: ${sig}: stopping the ${what} (again to exit at once)`);
      stop().then(
        () => resolve(0),
        (err: unknown) => {
          println(io.stderr, `jobhub: stopping failed: ${String(err)}`);
          resolve(1);
        },
      );
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  });
}
