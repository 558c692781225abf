/**
 * Opening a store from one string: a `postgres://` (or `postgresql://`) URL opens the PostgreSQL
 * backend, anything else is a data folder whose SQLite file is `<dir>/jobhub.db`. The store comes back
 * migrated.
 *
 * A PostgreSQL URL may name the schema as a `schema` query parameter
 * (`postgres://u@host/db?schema=jobhub`); it is taken out of the URL before connecting.
 */
import path from 'node:path';
import { PostgresStore } from './postgres/index.js';
import { SqliteStore } from './sqlite/index.js';

export type OpenedStore = SqliteStore | PostgresStore;

/** The SQLite file of a data folder. */
export const SQLITE_FILE_NAME = 'jobhub.db';

export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/** The URL without its `schema` parameter, and that schema. */
export function splitSchema(url: string): { url: string; schema: string | undefined } {
  if (!/[?&]schema=/.test(url)) return { url, schema: undefined };
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') || undefined;
  parsed.searchParams.delete('schema');
  return { url: parsed.toString(), schema };
}

/** The URL with any password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/** Opens (SQLite: creating the file and its folder if missing) and migrates the store of `target`. */
export async function openStore(
  target: string,
  opts: { schema?: string; poolSize?: number } = {},
): Promise<OpenedStore> {
  let store: OpenedStore;
  if (isPostgresUrl(target)) {
    const { url, schema } = splitSchema(target);
    const chosen = opts.schema ?? schema;
    store = PostgresStore.open(url, {
      ...(chosen === undefined ? {} : { schema: chosen }),
      ...(opts.poolSize === undefined ? {} : { poolSize: opts.poolSize }),
    });
  } else {
    store = SqliteStore.open(path.join(target, SQLITE_FILE_NAME));
  }
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
