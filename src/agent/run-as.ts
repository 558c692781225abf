/**
 * Running tasks as another OS user (seed 004's run-as identity): `jobhub agent --run-as USER` starts
 * every task (and its command probes) with that user's uid and primary gid, without supplementary
 * groups, with its HOME, USER and LOGNAME; the directories the agent makes for jobs are given to the
 * user so its tasks can write there. Only root may switch users, so the agent checks that first.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import path from 'node:path';
import { JobhubError } from '../core/errors.js';

export interface RunAs {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/** A passwd line: `name:x:uid:gid:gecos:home:shell`. */
function fromPasswd(line: string): RunAs | undefined {
  const [user, , uid, gid, , home] = line.trim().split(':');
  if (!user || uid === undefined || gid === undefined) return undefined;
  return { user, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

/** The user by name or uid, through NSS (`getent`) where it exists, else /etc/passwd. */
export function lookupUser(name: string): RunAs {
  let line: string | undefined;
  try {
    line = execFileSync('getent', ['passwd', name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    const numeric = /^\d+$/.test(name);
    line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => (numeric ? l.split(':')[2] === name : l.startsWith(`${name}:`)));
  }
  const found = line ? fromPasswd(line) : undefined;
  if (!found || !Number.isInteger(found.uid) || !Number.isInteger(found.gid)) {
    throw new JobhubError('bad_request', `--run-as: no user "${name}" on this machine`);
  }
  return found;
}

/**
 * Checks that this agent may run tasks as `r` and that `r` can reach `dir` (every directory above
 * it searchable by the user): a task that cannot enter its working directory would fail anyway,
 * later and less clearly.
 */
export function checkRunAs(r: RunAs, dir: string): void {
  const me = process.getuid?.();
  if (me !== 0 && me !== r.uid) {
    throw new JobhubError(
      'bad_request',
      `--run-as ${r.user}: the agent must run as root to start tasks as another user`,
    );
  }
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    const st = statSync(d);
    const bits = st.uid === r.uid ? 0o100 : st.gid === r.gid ? 0o010 : 0o001;
    if ((st.mode & bits) === 0) {
      throw new JobhubError(
        'bad_request',
        `--run-as ${r.user}: ${r.user} cannot enter ${d}, above the agent's working directories ${dir}: allow it (chmod o+x ${d}) or use --data elsewhere`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}

/** The environment a task gets for its user (before the job's and the task's own). */
export function runAsEnv(r: RunAs): Record<string, string> {
  return { USER: r.user, LOGNAME: r.user, HOME: r.home };
}

/** Gives a directory the agent made to the user its tasks run as. */
export async function giveDir(r: RunAs, dir: string): Promise<void> {
  await chown(dir, r.uid, r.gid);
}
