/** Templates (migration 7): named job specs, one row per version. */
import type { Owner } from '../../core/types.js';
import type { NewTemplate, TemplateRecord, TemplateSummary } from '../store.js';
import { type Db, query, statement } from './connection.js';
import { toJsonOrNull } from './rows.js';

interface TemplateRow {
  name: string;
  version: number;
  sha256: string;
  raw_spec: string;
  description: string | null;
  owner_json: unknown;
  pushed_by: string | null;
  created_at: number;
}

const COLUMNS = 'name, version, sha256, raw_spec, description, owner_json, pushed_by, created_at';
// Two pushes of one name at once would both read the same newest version: the second waits here,
// for the first's transaction, then reads the version it made. Keyed by the name's hash.
const LOCK_NAME = statement(
  'templates_lock',
  `SELECT pg_advisory_xact_lock(hashtext('jobhub.template:' || $1))`,
);
const INSERT = statement(
  'templates_insert',
  `INSERT INTO templates (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
);
const LATEST = statement(
  'templates_latest',
  `SELECT ${COLUMNS} FROM templates WHERE name = $1 ORDER BY version DESC LIMIT 1`,
);
const ONE = statement('templates_one', `SELECT ${COLUMNS} FROM templates WHERE name = $1 AND version = $2`);
const VERSIONS = statement(
  'templates_versions',
  `SELECT ${COLUMNS} FROM templates WHERE name = $1 ORDER BY version DESC`,
);
const ALL_LATEST = statement(
  'templates_all',
  `SELECT DISTINCT ON (name COLLATE "C") ${COLUMNS}, COUNT(*) OVER (PARTITION BY name) AS versions
   FROM templates ORDER BY name COLLATE "C", version DESC`,
);

function fromRow(r: TemplateRow): TemplateRecord {
  return {
    name: r.name,
    version: Number(r.version),
    sha256: r.sha256,
    rawSpec: r.raw_spec,
    description: r.description,
    owner: (r.owner_json ?? null) as Owner | null,
    pushedBy: r.pushed_by,
    createdAt: Number(r.created_at),
  };
}

export class TemplateStatements {
  /** Run inside a transaction: the newest version is read and the next one written together. */
  async push(c: Db, t: NewTemplate): Promise<{ template: TemplateRecord; created: boolean }> {
    await query(c, LOCK_NAME, [t.name]);
    const latest = await this.get(c, t.name);
    if (latest && latest.sha256 === t.sha256) return { template: latest, created: false };
    const template: TemplateRecord = { ...t, version: (latest?.version ?? 0) + 1 };
    await query(c, INSERT, [
      template.name,
      template.version,
      template.sha256,
      template.rawSpec,
      template.description,
      toJsonOrNull(template.owner),
      template.pushedBy,
      template.createdAt,
    ]);
    return { template, created: true };
  }

  async get(db: Db, name: string, version?: number): Promise<TemplateRecord | undefined> {
    const [row] =
      version === undefined
        ? await query<TemplateRow>(db, LATEST, [name])
        : await query<TemplateRow>(db, ONE, [name, version]);
    return row === undefined ? undefined : fromRow(row);
  }

  async versions(db: Db, name: string): Promise<TemplateRecord[]> {
    return (await query<TemplateRow>(db, VERSIONS, [name])).map(fromRow);
  }

  async all(db: Db): Promise<TemplateSummary[]> {
    const rows = await query<TemplateRow & { versions: number }>(db, ALL_LATEST);
    return rows.map((r) => ({ latest: fromRow(r), versions: Number(r.versions) }));
  }
}
