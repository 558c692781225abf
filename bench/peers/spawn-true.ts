/** The work unit of the baselines: spawn `true` and wait for it to exit (code 0). */
import { spawn } from 'node:child_process';

export function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('true', [], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`true exited with ${code ?? signal}`)),
    );
  });
}

/** Runs `fn` `n` times with `concurrency` at once. */
export async function pool(n: number, concurrency: number, fn: () => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await fn();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}
