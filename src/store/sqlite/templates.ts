/** Templates (migration 7): named job specs, one row per version. */
import type { Owner } from '../../core/types.js';
import type { NewTemplate, TemplateRecord, TemplateSummary } from '../store.js';
import type { StatementCache } from './connection.js';

interface TemplateRow {
  name: string;
  version: number;
  sha256: string;
  raw_spec: string;
  description: string | null;
  owner_json: string | null;
  pushed_by: string | null;
  created_at: number;
}

const COLUMNS = 'name, version, sha256, raw_spec, description, owner_json, pushed_by, created_at';
const INSERT = `INSERT INTO templates (${COLUMNS})
VALUES (@name, @version, @sha256, @rawSpec, @description, @ownerJson, @pushedBy, @createdAt)`;
const LATEST = `SELECT ${COLUMNS} FROM templates WHERE name = ? ORDER BY version DESC LIMIT 1`;
const ONE = `SELECT ${COLUMNS} FROM templates WHERE name = ? AND version = ?`;
const VERSIONS = `SELECT ${COLUMNS} FROM templates WHERE name = ? ORDER BY version DESC`;
const ALL_LATEST = `
SELECT ${COLUMNS.split(', ')
  .map((c) => `t.${c}`)
  .join(', ')}, n.versions
FROM templates t
JOIN (SELECT name, MAX(version) AS top, COUNT(*) AS versions FROM templates GROUP BY name) n
  ON n.name = t.name AND n.top = t.version
ORDER BY t.name`;

function fromRow(r: TemplateRow): TemplateRecord {
  return {
    name: r.name,
    version: r.version,
    sha256: r.sha256,
    rawSpec: r.raw_spec,
    description: r.description,
    owner: r.owner_json === null ? null : (JSON.parse(r.owner_json) as Owner),
    pushedBy: r.pushed_by,
    createdAt: r.created_at,
  };
}

export class TemplateStatements {
  constructor(private readonly st: StatementCache) {}

  /** Run inside a write transaction: the newest version is read and the next one written together. */
  push(t: NewTemplate): { template: TemplateRecord; created: boolean } {
    const latest = this.get(t.name);
    if (latest && latest.sha256 === t.sha256) return { template: latest, created: false };
    const template: TemplateRecord = { ...t, version: (latest?.version ?? 0) + 1 };
    this.st
      .get<
        [
          Omit<TemplateRecord, 'owner'> & {
            ownerJson: string | null;
          },
        ]
      >(INSERT)
      .run({
        name: template.name,
        version: template.version,
        sha256: template.sha256,
        rawSpec: template.rawSpec,
        description: template.description,
        ownerJson: template.owner === null ? null : JSON.stringify(template.owner),
        pushedBy: template.pushedBy,
        createdAt: template.createdAt,
      });
    return { template, created: true };
  }

  get(name: string, version?: number): TemplateRecord | undefined {
    const row =
      version === undefined
        ? this.st.get<[string], TemplateRow>(LATEST).get(name)
        : this.st.get<[string, number], TemplateRow>(ONE).get(name, version);
    return row === undefined ? undefined : fromRow(row);
  }

  versions(name: string): TemplateRecord[] {
    return this.st.get<[string], TemplateRow>(VERSIONS).all(name).map(fromRow);
  }

  all(): TemplateSummary[] {
    return this.st
      .get<[], TemplateRow & { versions: number }>(ALL_LATEST)
      .all()
      .map((r) => ({ latest: fromRow(r), versions: r.versions }));
  }
}
