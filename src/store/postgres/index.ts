/**
 * The PostgreSQL backend of the store, for server replicas sharing one database. Each write method is
 * one transaction (BEGIN … COMMIT, ROLLBACK on error) on one pooled connection; reads are single
 * statements. Writes that append events, logs or inbox items notify `jobhub_events`, `jobhub_logs` or
 * `jobhub_inbox` in the same transaction (delivered at COMMIT) for the other replicas to LISTEN to.
 *
 * `schema` puts every table in that schema (created by `migrate()` when missing): each connection's
 * search_path is that schema alone. Call `migrate()` once after `open()`, before any other method.
 */
import type pg from 'pg';
import type { JobStatus, Millis, NodeInfo, NodeState } from '../../core/types.js';
import type {
  BackendRecord,
  BackendRunRecord,
  BackendRunUpdate,
  ChangeSet,
  EventQuery,
  EventRecord,
  FileKind,
  FileRecord,
  InboxItem,
  JobDetail,
  JobQuery,
  JobRecord,
  LockDecl,
  LogQuery,
  Membership,
  NewJob,
  NewLogLine,
  NewTemplate,
  NewToken,
  NodeRecord,
  OrgRecord,
  OrgRole,
  ScheduleRecord,
  Store,
  StoredLogLine,
  TemplateRecord,
  TemplateSummary,
  TokenRecord,
  UserRecord,
  WorkspaceRecord,
} from '../store.js';
import { BackendStatements } from './backends.js';
import { ChangeStatements } from './changes.js';
import { openPool, quoteSchema, transaction } from './connection.js';
import { EventStatements } from './events.js';
import { FileStatements } from './files.js';
import { IdentityStatements } from './identity.js';
import { InboxStatements } from './inbox.js';
import { JobStatements } from './jobs.js';
import { LockStatements } from './locks.js';
import { LogStatements } from './logs.js';
import { type AppliedMigration, appliedMigrations, runMigrations } from './migrations.js';
import { NodeStatements } from './nodes.js';
import { ScheduleStatements } from './schedules.js';
import { TemplateStatements } from './templates.js';
import { TokenStatements } from './tokens.js';

export interface PostgresStoreOptions {
  /** The schema of jobhub's tables (default: the server's search_path, normally `public`). */
  schema?: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
}

export class PostgresStore implements Store {
  /** The connection pool (the composition root also uses it, e.g. for LISTEN and the lease). */
  readonly pool: pg.Pool;
  /** The schema given at open, if any. */
  readonly schema: string | undefined;
  private readonly jobs = new JobStatements();
  private readonly events = new EventStatements();
  private readonly changes = new ChangeStatements(this.events);
  private readonly logs = new LogStatements();
  private readonly nodes = new NodeStatements();
  private readonly tokens = new TokenStatements();
  private readonly identity = new IdentityStatements();
  private readonly inbox = new InboxStatements();
  private readonly files = new FileStatements();
  private readonly locks = new LockStatements();
  private readonly schedules = new ScheduleStatements();
  private readonly templates = new TemplateStatements();
  private readonly backends = new BackendStatements();
  private closing: Promise<void> | undefined;

  private constructor(pool: pg.Pool, schema: string | undefined) {
    this.pool = pool;
    this.schema = schema;
  }

  /** A store on `url` (`postgres://user@host:5432/db`); connects lazily, on the first call. */
  static open(url: string, opts: PostgresStoreOptions = {}): PostgresStore {
    if (opts.schema !== undefined) quoteSchema(opts.schema); // a bad name fails here, not at connect
    return new PostgresStore(openPool(url, { schema: opts.schema, poolSize: opts.poolSize }), opts.schema);
  }

  private write<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.pool, fn);
  }

  async migrate(): Promise<void> {
    await runMigrations(this.pool, { schema: this.schema });
  }

  /** The recorded schema migrations, oldest first. */
  async migrations(): Promise<AppliedMigration[]> {
    return appliedMigrations(this.pool);
  }

  /** Ends the pool (waiting for checked-out connections to come back). Idempotent. */
  async close(): Promise<void> {
    this.closing ??= this.pool.end();
    await this.closing;
  }

  async createJob(input: NewJob): Promise<JobDetail> {
    return this.write(async (c) => {
      const id = await this.jobs.insert(c, input);
      await this.events.append(c, [
        { type: 'job.submitted', ts: input.createdAt, jobId: id, data: { name: input.name } },
      ]);
      const detail = await this.jobs.detail(c, id);
      if (detail === undefined) throw new Error(`job ${id} vanished after its insert`);
      return detail;
    });
  }

  async getJob(id: number): Promise<JobRecord | undefined> {
    return this.jobs.get(this.pool, id);
  }

  async getJobDetail(id: number): Promise<JobDetail | undefined> {
    return this.jobs.detail(this.pool, id);
  }

  async listJobs(query?: JobQuery): Promise<JobRecord[]> {
    return this.jobs.list(this.pool, query);
  }

  async countJobsByStatus(): Promise<Record<JobStatus, number>> {
    return this.jobs.countByStatus(this.pool);
  }

  async listActiveJobIds(): Promise<number[]> {
    return this.jobs.activeIds(this.pool);
  }

  async applyChanges(changes: ChangeSet): Promise<EventRecord[]> {
    return this.write((c) => this.changes.apply(c, changes));
  }

  async listEvents(query: EventQuery): Promise<EventRecord[]> {
    return this.events.list(this.pool, query);
  }

  async lastEventSeq(): Promise<number> {
    return this.events.lastSeq(this.pool);
  }

  async appendLogs(lines: NewLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.write((c) => this.logs.append(c, lines));
  }

  async readLogs(query: LogQuery): Promise<StoredLogLine[]> {
    return this.logs.read(this.pool, query);
  }

  async registerNode(
    info: NodeInfo,
    state: NodeState,
    now: Millis,
  ): Promise<{ node: NodeRecord; event: EventRecord }> {
    return this.write(async (c) => {
      const node = await this.nodes.upsert(c, info, state, now);
      const [event] = await this.events.append(c, [
        { type: 'node.registered', ts: now, nodeId: info.id, data: { info } },
      ]);
      if (event === undefined) throw new Error('node.registered event not appended');
      return { node, event };
    });
  }

  async getNode(id: string): Promise<NodeRecord | undefined> {
    return this.nodes.get(this.pool, id);
  }

  async listNodes(): Promise<NodeRecord[]> {
    return this.nodes.list(this.pool);
  }

  async touchNodes(ids: string[], now: Millis): Promise<void> {
    if (ids.length > 0) await this.write((c) => this.inbox.touch(c, ids, now));
  }

  async enqueueReports(items: Array<Omit<InboxItem, 'id'>>): Promise<void> {
    if (items.length > 0) await this.inbox.enqueue(this.pool, items, Date.now());
  }

  async takeReports(afterId: number, limit: number): Promise<InboxItem[]> {
    return this.inbox.take(this.pool, afterId, limit);
  }

  async finishReports(ids: number[], watermarks: Array<{ nodeId: string; seq: number }>): Promise<void> {
    if (ids.length === 0 && watermarks.length === 0) return;
    await this.write((c) => this.inbox.finish(c, ids, watermarks));
  }

  async nodeReportHigh(nodeId: string): Promise<number> {
    return this.inbox.high(this.pool, nodeId);
  }

  async createToken(token: NewToken): Promise<TokenRecord> {
    return this.write((c) => this.tokens.insert(c, token));
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    return this.tokens.byHash(this.pool, hash);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    return this.tokens.byId(this.pool, id);
  }

  async listTokens(userId?: string): Promise<TokenRecord[]> {
    return this.tokens.list(this.pool, userId);
  }

  async revokeToken(id: string, at: Millis): Promise<boolean> {
    return this.tokens.revoke(this.pool, id, at);
  }

  async createUser(user: UserRecord): Promise<UserRecord> {
    return this.identity.createUser(this.pool, user);
  }

  async getUser(idOrName: string): Promise<UserRecord | undefined> {
    return this.identity.getUser(this.pool, idOrName);
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.identity.listUsers(this.pool);
  }

  async createOrg(org: OrgRecord): Promise<OrgRecord> {
    return this.identity.createOrg(this.pool, org);
  }

  async getOrg(idOrName: string): Promise<OrgRecord | undefined> {
    return this.identity.getOrg(this.pool, idOrName);
  }

  async listOrgs(): Promise<OrgRecord[]> {
    return this.identity.listOrgs(this.pool);
  }

  async setMembership(orgId: string, userId: string, role: OrgRole | null): Promise<void> {
    await this.identity.setMembership(this.pool, orgId, userId, role);
  }

  async listMemberships(of: { userId: string } | { orgId: string }): Promise<Membership[]> {
    return this.identity.memberships(this.pool, of);
  }

  async putSecret(orgId: string, name: string, ciphertext: string, now: Millis): Promise<void> {
    await this.identity.putSecret(this.pool, orgId, name, ciphertext, now);
  }

  async listSecretNames(orgId: string): Promise<string[]> {
    return this.identity.secretNames(this.pool, orgId);
  }

  async getSecrets(orgId: string, names: string[]): Promise<Map<string, string>> {
    return this.identity.secrets(this.pool, orgId, names);
  }

  async deleteSecret(orgId: string, name: string): Promise<boolean> {
    return this.identity.deleteSecret(this.pool, orgId, name);
  }

  // ---- Files (migration 5) ----

  async putFile(file: FileRecord, require?: 'held' | 'active'): Promise<FileRecord | undefined> {
    return this.write((c) => this.files.put(c, file, require));
  }

  async listFiles(jobId: number): Promise<FileRecord[]> {
    return this.files.list(this.pool, jobId);
  }

  async getFile(jobId: number, path: string): Promise<FileRecord | undefined> {
    return this.files.get(this.pool, jobId, path);
  }

  async jobFilesSize(jobId: number): Promise<number> {
    return this.files.size(this.pool, jobId);
  }

  async deleteFiles(jobId: number, kinds?: readonly FileKind[]): Promise<FileRecord[]> {
    return this.write((c) => this.files.delete(c, jobId, kinds));
  }

  async blobInUse(sha256: string): Promise<boolean> {
    return this.files.inUse(this.pool, sha256);
  }

  async jobsWithFilesEndedBefore(before: Millis, limit: number): Promise<number[]> {
    return this.files.endedWithFiles(this.pool, before, limit);
  }

  async deleteJob(id: number, now: Millis): Promise<{ files: FileRecord[]; event: EventRecord }> {
    return this.write(async (c) => {
      const files = await this.files.deleteJob(c, id);
      const [event] = await this.events.append(c, [
        { type: 'job.deleted', ts: now, jobId: id, data: { files: files.length } },
      ]);
      if (event === undefined) throw new Error('job.deleted event not appended');
      return { files, event };
    });
  }

  async createWorkspace(w: WorkspaceRecord): Promise<WorkspaceRecord> {
    return this.write((c) => this.files.createWorkspace(c, w));
  }

  async getWorkspace(idOrName: string): Promise<WorkspaceRecord | undefined> {
    return this.files.workspace(this.pool, idOrName);
  }

  async listWorkspaces(): Promise<WorkspaceRecord[]> {
    return this.files.workspaces(this.pool);
  }

  async pushTemplate(t: NewTemplate): Promise<{ template: TemplateRecord; created: boolean }> {
    return this.write((c) => this.templates.push(c, t));
  }

  async getTemplate(name: string, version?: number): Promise<TemplateRecord | undefined> {
    return this.templates.get(this.pool, name, version);
  }

  async listTemplateVersions(name: string): Promise<TemplateRecord[]> {
    return this.templates.versions(this.pool, name);
  }

  async listTemplates(): Promise<TemplateSummary[]> {
    return this.templates.all(this.pool);
  }

  async putSchedule(s: ScheduleRecord): Promise<void> {
    await this.schedules.put(this.pool, s);
  }

  async getSchedule(template: string): Promise<ScheduleRecord | undefined> {
    return this.schedules.one(this.pool, template);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return this.schedules.all(this.pool);
  }

  async deleteSchedule(template: string): Promise<boolean> {
    return this.schedules.delete(this.pool, template);
  }

  async setSchedulePaused(template: string, paused: boolean, nextAt: Millis): Promise<boolean> {
    return this.schedules.pause(this.pool, template, paused, nextAt);
  }

  async dueSchedules(now: Millis): Promise<ScheduleRecord[]> {
    return this.schedules.due(this.pool, now);
  }

  async claimScheduleTick(
    template: string,
    expectNextAt: Millis,
    nextAt: Millis,
    now: Millis,
  ): Promise<boolean> {
    return this.schedules.claim(this.pool, template, expectNextAt, nextAt, now);
  }

  async recordScheduleRun(
    template: string,
    run: { jobId: number | null; error: string | null },
  ): Promise<void> {
    await this.schedules.record(this.pool, template, run.jobId, run.error);
  }

  async listLockDecls(): Promise<LockDecl[]> {
    return this.locks.all(this.pool);
  }

  async putLockDecl(d: LockDecl): Promise<void> {
    await this.locks.put(this.pool, d);
  }

  async deleteLockDecl(name: string): Promise<boolean> {
    return this.locks.delete(this.pool, name);
  }

  async putBackend(b: BackendRecord): Promise<void> {
    await this.backends.put(this.pool, b);
  }

  async replaceFileBackends(list: BackendRecord[]): Promise<void> {
    await this.write((c) => this.backends.replaceFromFile(c, list));
  }

  async getBackend(id: string): Promise<BackendRecord | undefined> {
    return this.backends.one(this.pool, id);
  }

  async listBackends(): Promise<BackendRecord[]> {
    return this.backends.all(this.pool);
  }

  async deleteBackend(id: string): Promise<boolean> {
    return this.backends.delete(this.pool, id);
  }

  async insertBackendRun(r: BackendRunRecord): Promise<void> {
    await this.backends.insertRun(this.pool, r);
  }

  async getBackendRun(jobId: number, taskId: number, attempt: number): Promise<BackendRunRecord | undefined> {
    return this.backends.run(this.pool, jobId, taskId, attempt);
  }

  async listBackendRuns(jobId: number): Promise<BackendRunRecord[]> {
    return this.backends.runsOfJob(this.pool, jobId);
  }

  async updateBackendRun(
    jobId: number,
    taskId: number,
    attempt: number,
    set: BackendRunUpdate,
    now: Millis,
  ): Promise<void> {
    await this.backends.updateRun(this.pool, jobId, taskId, attempt, set, now);
  }

  async takeBackendLogSeqs(
    jobId: number,
    taskId: number,
    attempt: number,
    n: number,
    now: Millis,
  ): Promise<number | undefined> {
    return this.backends.takeSeqs(this.pool, jobId, taskId, attempt, n, now);
  }
}
