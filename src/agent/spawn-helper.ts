/**
 * The spawn helper: a process that does nothing but start task processes for its agent (see
 * spawner.ts) and pass their output and exit back. It imports nothing of jobhub, so it stays small
 * and its forks stay cheap. When its agent goes away, it kills every task it started and exits:
 * no task outlives its agent.
 */
import { spawn } from 'node:child_process';
import type { FromHelper, ToHelper } from './spawner.js';

const groups = new Set<number>();
/** Messages handed to the channel and not yet written: output pauses while there are too many. */
let inFlight = 0;
const paused = new Set<NodeJS.ReadableStream>();

function send(m: FromHelper): void {
  inFlight++;
  process.send?.(m, undefined, undefined, () => {
    inFlight--;
    if (inFlight < 64) for (const s of paused) s.resume();
    if (inFlight < 64) paused.clear();
  });
}

process.on('message', (m: ToHelper) => {
  if (m.t !== 'spawn') return;
  const { id, req } = m;
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(req.file, req.args, {
      cwd: req.cwd,
      env: req.env,
      // Inline (no import of spawner.js's code): the helper stays small.
      ...(req.uid !== undefined ? { uid: req.uid } : {}),
      ...(req.gid !== undefined ? { gid: req.gid } : {}),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    send({ t: 'error', id, code: e.code, message: e.message });
    return;
  }
  child.once('error', (err: NodeJS.ErrnoException) => {
    if (child.pid === undefined) send({ t: 'error', id, code: err.code, message: err.message });
  });
  if (child.pid === undefined) return;
  const pid = child.pid;
  groups.add(pid);
  send({ t: 'spawned', id, pid });
  for (const [s, stream] of [
    [1, child.stdout],
    [2, child.stderr],
  ] as const) {
    stream?.on('data', (data: Buffer) => {
      send({ t: 'out', id, s, data });
      if (inFlight >= 64 && stream) {
        stream.pause();
        paused.add(stream);
      }
    });
    stream?.on('error', () => {});
  }
  child.once('exit', (code, signal) => {
    groups.delete(pid);
    send({ t: 'exit', id, code, signal });
  });
  child.once('close', () => send({ t: 'close', id }));
});

process.on('disconnect', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  process.exit(0);
});
