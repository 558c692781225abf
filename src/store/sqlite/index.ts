/**
 * The SQLite backend of the store. better-sqlite3 is synchronous; each Store method runs its work in
 * one transaction (write methods with BEGIN IMMEDIATE, so a second process waits on busy_timeout
 * instead of failing on a read-to-write upgrade) and returns a Promise.
 *
 * Call `migrate()` once after `open()`, before any other method.
 */
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
import { type Db, openDatabase, StatementCache } from './connection.js';
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

export class SqliteStore implements Store {
  private readonly db: Db;
  private readonly st: StatementCache;
  private readonly jobs: JobStatements;
  private readonly events: EventStatements;
  private readonly changes: ChangeStatements;
  private readonly logs: LogStatements;
  private readonly nodes: NodeStatements;
  private readonly tokens: TokenStatements;
  private readonly inbox: InboxStatements;
  private readonly files: FileStatements;
  private readonly locks: LockStatements;
  private readonly schedules: ScheduleStatements;
  private readonly identity: IdentityStatements;
  private readonly templates: TemplateStatements;
  private readonly backends: BackendStatements;
  private closed = false;

  private constructor(db: Db) {
    this.db = db;
    this.st = new StatementCache(db);
    this.jobs = new JobStatements(this.st);
    this.events = new EventStatements(this.st);
    this.changes = new ChangeStatements(this.st, this.events);
    this.logs = new LogStatements(this.st);
    this.nodes = new NodeStatements(this.st);
    this.tokens = new TokenStatements(this.st);
    this.inbox = new InboxStatements(this.st);
    this.files = new FileStatements(this.st);
    this.locks = new LockStatements(this.st);
    this.schedules = new ScheduleStatements(this.st);
    this.identity = new IdentityStatements(this.st);
    this.templates = new TemplateStatements(this.st);
    this.backends = new BackendStatements(this.st);
  }

  /** Opens (creating the file and its directory if missing) a database; `:memory:` is allowed. */
  static open(file: string): SqliteStore {
    return new SqliteStore(openDatabase(file));
  }

  /** The database file's path (`:memory:` for an in-memory one). */
  get file(): string {
    return this.db.name;
  }

  private read<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  async migrate(): Promise<void> {
    runMigrations(this.st);
  }

  /** The recorded schema migrations, oldest first. */
  async migrations(): Promise<AppliedMigration[]> {
    return this.read(() => appliedMigrations(this.st));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  async createJob(input: NewJob): Promise<JobDetail> {
    return this.write(() => {
      const id = this.jobs.insert(input);
      this.events.insert({
        type: 'job.submitted',
        ts: input.createdAt,
        jobId: id,
        data: { name: input.name },
      });
      const detail = this.jobs.detail(id);
      if (detail === undefined) throw new Error(`job ${id} vanished after its insert`);
      return detail;
    });
  }

  async getJob(id: number): Promise<JobRecord | undefined> {
    return this.read(() => this.jobs.get(id));
  }

  async getJobDetail(id: number): Promise<JobDetail | undefined> {
    return this.read(() => this.jobs.detail(id));
  }

  async listJobs(query?: JobQuery): Promise<JobRecord[]> {
    return this.read(() => this.jobs.list(query));
  }

  async countJobsByStatus(): Promise<Record<JobStatus, number>> {
    return this.read(() => this.jobs.countByStatus());
  }

  async listActiveJobIds(): Promise<number[]> {
    return this.read(() => this.jobs.activeIds());
  }

  async applyChanges(changes: ChangeSet): Promise<EventRecord[]> {
    return this.write(() => this.changes.apply(changes));
  }

  async listEvents(query: EventQuery): Promise<EventRecord[]> {
    return this.read(() => this.events.list(query));
  }

  async lastEventSeq(): Promise<number> {
    return this.read(() => this.events.lastSeq());
  }

  async appendLogs(lines: NewLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    this.write(() => this.logs.append(lines));
  }

  async readLogs(query: LogQuery): Promise<StoredLogLine[]> {
    return this.read(() => this.logs.read(query));
  }

  async registerNode(
    info: NodeInfo,
    state: NodeState,
    now: Millis,
  ): Promise<{ node: NodeRecord; event: EventRecord }> {
    return this.write(() => {
      const node = this.nodes.upsert(info, state, now);
      const event = this.events.insert({ type: 'node.registered', ts: now, nodeId: info.id, data: { info } });
      return { node, event };
    });
  }

  async getNode(id: string): Promise<NodeRecord | undefined> {
    return this.read(() => this.nodes.get(id));
  }

  async listNodes(): Promise<NodeRecord[]> {
    return this.read(() => this.nodes.list());
  }

  async touchNodes(ids: string[], now: Millis): Promise<void> {
    if (ids.length > 0) this.write(() => this.inbox.touch(ids, now));
  }

  async enqueueReports(items: Array<Omit<InboxItem, 'id'>>): Promise<void> {
    if (items.length > 0) this.write(() => this.inbox.enqueue(items, Date.now()));
  }

  async takeReports(afterId: number, limit: number): Promise<InboxItem[]> {
    return this.read(() => this.inbox.take(afterId, limit));
  }

  async finishReports(ids: number[], watermarks: Array<{ nodeId: string; seq: number }>): Promise<void> {
    this.write(() => this.inbox.finish(ids, watermarks));
  }

  async nodeReportHigh(nodeId: string): Promise<number> {
    return this.read(() => this.inbox.high(nodeId));
  }

  async createToken(token: NewToken): Promise<TokenRecord> {
    return this.write(() => this.tokens.insert(token));
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    return this.read(() => this.tokens.byHash(hash));
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    return this.read(() => this.tokens.byId(id));
  }

  async listTokens(userId?: string): Promise<TokenRecord[]> {
    return this.read(() => this.tokens.list(userId));
  }

  async revokeToken(id: string, at: Millis): Promise<boolean> {
    return this.write(() => this.tokens.revoke(id, at));
  }

  async createUser(user: UserRecord): Promise<UserRecord> {
    return this.write(() => this.identity.createUser(user));
  }

  async getUser(idOrName: string): Promise<UserRecord | undefined> {
    return this.read(() => this.identity.getUser(idOrName));
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.read(() => this.identity.listUsers());
  }

  async createOrg(org: OrgRecord): Promise<OrgRecord> {
    return this.write(() => this.identity.createOrg(org));
  }

  async getOrg(idOrName: string): Promise<OrgRecord | undefined> {
    return this.read(() => this.identity.getOrg(idOrName));
  }

  async listOrgs(): Promise<OrgRecord[]> {
    return this.read(() => this.identity.listOrgs());
  }

  async setMembership(orgId: string, userId: string, role: OrgRole | null): Promise<void> {
    this.write(() => this.identity.setMembership(orgId, userId, role));
  }

  async listMemberships(of: { userId: string } | { orgId: string }): Promise<Membership[]> {
    return this.read(() => this.identity.memberships(of));
  }

  async putSecret(orgId: string, name: string, ciphertext: string, now: Millis): Promise<void> {
    this.write(() => this.identity.putSecret(orgId, name, ciphertext, now));
  }

  async listSecretNames(orgId: string): Promise<string[]> {
    return this.read(() => this.identity.secretNames(orgId));
  }

  async getSecrets(orgId: string, names: string[]): Promise<Map<string, string>> {
    return this.read(() => this.identity.secrets(orgId, names));
  }

  async deleteSecret(orgId: string, name: string): Promise<boolean> {
    return this.write(() => this.identity.deleteSecret(orgId, name));
  }

  // ---- Files (migration 5) ----

  async putFile(file: FileRecord, require?: 'held' | 'active'): Promise<FileRecord | undefined> {
    return this.write(() => this.files.put(file, require));
  }

  async listFiles(jobId: number): Promise<FileRecord[]> {
    return this.read(() => this.files.list(jobId));
  }

  async getFile(jobId: number, path: string): Promise<FileRecord | undefined> {
    return this.read(() => this.files.get(jobId, path));
  }

  async jobFilesSize(jobId: number): Promise<number> {
    return this.read(() => this.files.size(jobId));
  }

  async deleteFiles(jobId: number, kinds?: readonly FileKind[]): Promise<FileRecord[]> {
    return this.write(() => this.files.delete(jobId, kinds));
  }

  async blobInUse(sha256: string): Promise<boolean> {
    return this.read(() => this.files.inUse(sha256));
  }

  async jobsWithFilesEndedBefore(before: Millis, limit: number): Promise<number[]> {
    return this.read(() => this.files.endedWithFiles(before, limit));
  }

  async deleteJob(id: number, now: Millis): Promise<{ files: FileRecord[]; event: EventRecord }> {
    return this.write(() => {
      const files = this.files.deleteJob(id);
      const event = this.events.insert({
        type: 'job.deleted',
        ts: now,
        jobId: id,
        data: { files: files.length },
      });
      return { files, event };
    });
  }

  async createWorkspace(w: WorkspaceRecord): Promise<WorkspaceRecord> {
    return this.write(() => this.files.createWorkspace(w));
  }

  async getWorkspace(idOrName: string): Promise<WorkspaceRecord | undefined> {
    return this.read(() => this.files.workspace(idOrName));
  }

  async listWorkspaces(): Promise<WorkspaceRecord[]> {
    return this.read(() => this.files.workspaces());
  }

  async pushTemplate(t: NewTemplate): Promise<{ template: TemplateRecord; created: boolean }> {
    return this.write(() => this.templates.push(t));
  }

  async getTemplate(name: string, version?: number): Promise<TemplateRecord | undefined> {
    return this.read(() => this.templates.get(name, version));
  }

  async listTemplateVersions(name: string): Promise<TemplateRecord[]> {
    return this.read(() => this.templates.versions(name));
  }

  async listTemplates(): Promise<TemplateSummary[]> {
    return this.read(() => this.templates.all());
  }

  async putSchedule(s: ScheduleRecord): Promise<void> {
    return this.write(() => this.schedules.put(s));
  }

  async getSchedule(template: string): Promise<ScheduleRecord | undefined> {
    return this.read(() => this.schedules.one(template));
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return this.read(() => this.schedules.all());
  }

  async deleteSchedule(template: string): Promise<boolean> {
    return this.write(() => this.schedules.delete(template));
  }

  async setSchedulePaused(template: string, paused: boolean, nextAt: Millis): Promise<boolean> {
    return this.write(() => this.schedules.pause(template, paused, nextAt));
  }

  async dueSchedules(now: Millis): Promise<ScheduleRecord[]> {
    return this.read(() => this.schedules.due(now));
  }

  async claimScheduleTick(
    template: string,
    expectNextAt: Millis,
    nextAt: Millis,
    now: Millis,
  ): Promise<boolean> {
    return this.write(() => this.schedules.claim(template, expectNextAt, nextAt, now));
  }

  async recordScheduleRun(
    template: string,
    run: { jobId: number | null; error: string | null },
  ): Promise<void> {
    return this.write(() => this.schedules.record(template, run.jobId, run.error));
  }

  async listLockDecls(): Promise<LockDecl[]> {
    return this.read(() => this.locks.all());
  }

  async putLockDecl(d: LockDecl): Promise<void> {
    return this.write(() => this.locks.put(d));
  }

  async deleteLockDecl(name: string): Promise<boolean> {
    return this.write(() => this.locks.delete(name));
  }

  async putBackend(b: BackendRecord): Promise<void> {
    return this.write(() => this.backends.put(b));
  }

  async replaceFileBackends(list: BackendRecord[]): Promise<void> {
    return this.write(() => this.backends.replaceFromFile(list));
  }

  async getBackend(id: string): Promise<BackendRecord | undefined> {
    return this.read(() => this.backends.one(id));
  }

  async listBackends(): Promise<BackendRecord[]> {
    return this.read(() => this.backends.all());
  }

  async deleteBackend(id: string): Promise<boolean> {
    return this.write(() => this.backends.delete(id));
  }

  async insertBackendRun(r: BackendRunRecord): Promise<void> {
    return this.write(() => this.backends.insertRun(r));
  }

  async getBackendRun(jobId: number, taskId: number, attempt: number): Promise<BackendRunRecord | undefined> {
    return this.read(() => this.backends.run(jobId, taskId, attempt));
  }

  async listBackendRuns(jobId: number): Promise<BackendRunRecord[]> {
    return this.read(() => this.backends.runsOfJob(jobId));
  }

  async updateBackendRun(
    jobId: number,
    taskId: number,
    attempt: number,
    set: BackendRunUpdate,
    now: Millis,
  ): Promise<void> {
    return this.write(() => this.backends.updateRun(jobId, taskId, attempt, set, now));
  }

  async takeBackendLogSeqs(
    jobId: number,
    taskId: number,
    attempt: number,
    n: number,
    now: Millis,
  ): Promise<number | undefined> {
    return this.write(() => this.backends.takeSeqs(jobId, taskId, attempt, n, now));
  }
}
