/**
 * What one scenario owns: its processes, temp folders, PostgreSQL schemas, Redis keys. `close()`
 * releases all of it whether the scenario passed, failed or timed out.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { markedPids, type Proc, type SpawnOpts, spawnProc } from './procs.js';

export class Scope {
  private readonly procs: Proc[] = [];
  private readonly dirs: string[] = [];
  private readonly cleanups: Array<{ what: string; fn: () => Promise<void> | void }> = [];
  private closedFlag = false;

  constructor(
    readonly name: string,
    /** Root temp folder of the run. */
    private readonly tmpRoot: string,
    /** Folder for the processes' output. */
    readonly logDir: string,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private check(): void {
    if (this.closedFlag) throw new Error(`scenario ${this.name} is over (timed out or failed)`);
  }

  spawn(name: string, cmd: string, args: string[], opts: Omit<SpawnOpts, 'logDir'> = {}): Proc {
    this.check();
    const p = spawnProc(name, cmd, args, { ...opts, logDir: this.logDir });
    this.procs.push(p);
    return p;
  }

  tempDir(prefix: string): string {
    this.check();
    const d = mkdtempSync(path.join(this.tmpRoot, `${prefix}-`));
    this.dirs.push(d);
    return d;
  }

  /** Runs at close, last registered first. */
  defer(what: string, fn: () => Promise<void> | void): void {
    this.cleanups.push({ what, fn });
  }

  async close(): Promise<string[]> {
    const problems: string[] = [];
    if (this.closedFlag) return problems;
    this.closedFlag = true;
    await Promise.all(this.procs.map((p) => p.stop(2000).catch(() => undefined)));
    for (const pid of markedPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const c of this.cleanups.reverse()) {
      try {
        await Promise.race([
          c.fn(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 30s')), 30_000)),
        ]);
      } catch (err) {
        problems.push(`cleanup "${c.what}" failed: ${String(err)}`);
      }
    }
    for (const d of this.dirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch (err) {
        problems.push(`removing ${d}: ${String(err)}`);
      }
    }
    return problems;
  }
}
