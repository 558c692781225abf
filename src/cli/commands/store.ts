/**
 * `jobhub store copy --from DIR --to postgres://…`: moves a SQLite data folder's store into an empty
 * PostgreSQL database (or schema: `?schema=name` on the URL), keeping every id, so a server can move
 * from SQLite to replicas on PostgreSQL. Stop jobhub on the data folder first: what changes after the
 * copy started is not copied.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { JobhubError } from '../../core/errors.js';
import { type CopyTable, copyStore } from '../../store/copy.js';
import { isPostgresUrl, openStore, redactUrl, SQLITE_FILE_NAME } from '../../store/open.js';
import { PostgresStore } from '../../store/postgres/index.js';
import { SqliteStore } from '../../store/sqlite/index.js';
import { type CliIO, println } from '../io.js';

const NEXT_LABELS: Partial<Record<CopyTable, string>> = {
  jobs: 'job id',
  events: 'event seq',
  logs: 'log line id',
  report_inbox: 'inbox id',
};

/** Copies the SQLite store of `from` (a data folder) into the PostgreSQL store at `to` (a URL). */
export async function storeCopyCommand(opts: { from: string; to: string }, io: CliIO): Promise<number> {
  if (isPostgresUrl(opts.from)) {
    throw new JobhubError(
      'unsupported',
      '--from must be a data folder (SQLite): copying from PostgreSQL is not supported',
    );
  }
  if (!isPostgresUrl(opts.to)) {
    throw new JobhubError('bad_request', `--to must be a postgres:// URL (got "${opts.to}")`);
  }
  const dir = path.resolve(io.cwd, opts.from);
  const file = path.join(dir, SQLITE_FILE_NAME);
  if (!existsSync(file))
    throw new JobhubError('not_found', `no jobhub data in ${dir} (no ${SQLITE_FILE_NAME})`);

  const source = await openStore(dir);
  try {
    const target = await openStore(opts.to, { poolSize: 2 });
    try {
      if (!(source instanceof SqliteStore) || !(target instanceof PostgresStore)) {
        throw new JobhubError('internal', 'store copy: unexpected store kinds');
      }
      const to = redactUrl(opts.to);
      println(io.stderr, `copying ${file} into ${to}…`);
      const report = await copyStore(source, target, {
        batchSize: 1000,
        onProgress: (table, copied, total) => {
          // A line per large table, every 50,000 rows, so a long copy shows it is moving.
          if (total >= 50_000 && (copied % 50_000 < 1000 || copied === total)) {
            println(io.stderr, `  ${table}: ${copied} of ${total}`);
          }
        },
      });
      println(io.stdout, `copied ${file} into ${to} in ${(report.ms / 1000).toFixed(1)}s:`);
      const width = Math.max(...Object.keys(report.copied).map((t) => t.length));
      for (const [table, n] of Object.entries(report.copied)) {
        println(io.stdout, `  ${table.padEnd(width)}  ${String(n).padStart(9)}`);
      }
      const next = Object.entries(report.next)
        .map(([t, n]) => `${NEXT_LABELS[t as CopyTable] ?? t} ${n}`)
        .join(', ');
      println(io.stdout, `counts checked; ids continue at: ${next}`);
      // What the rows need that is not in the database: the key that sealed the secrets, the blobs.
      const keyFile = path.join(dir, 'server.key');
      if ((report.copied.secrets ?? 0) > 0 && existsSync(keyFile)) {
        println(
          io.stdout,
          `secrets are sealed with ${keyFile}: start the servers with JOBHUB_SERVER_KEY="$(cat ${keyFile})"`,
        );
      }
      if ((report.copied.files ?? 0) + (report.copied.workspaces ?? 0) > 0) {
        println(
          io.stdout,
          `file contents stay in ${path.join(dir, 'blobs')}: copy that folder to the servers' --files-dir`,
        );
      }
      return 0;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
