/**
 * What the HTTP routes are given: the subsystems they call, built by the server's composition root.
 * Routes never reach for globals and never write SQL: they use the store's methods and the
 * coordinator's.
 */
import type { BackendServices } from '../backends/services.js';
import type { Coordinator } from '../engine/coordinator.js';
import type { EventBus } from '../engine/event-bus.js';
import type { FileService } from '../files/file-service.js';
import type { NodeRecord, OrgRole, Store, TokenKind, TokenScope } from '../store/store.js';
import type { JobTokens } from './job-tokens.js';
import type { Metrics } from './metrics.js';
import type { ServerKey } from './server-key.js';

/** Who made a request, from its token. */
export interface Principal {
  tokenId: string;
  kind: TokenKind;
  /** The token's name. */
  name: string;
  /** The user a `user` token acts as (null for an agent token). */
  userId: string | null;
  userName: string | null;
  serverAdmin: boolean;
  scope: TokenScope;
  actFor: boolean;
  /** The user's orgs, by org id. */
  orgs: ReadonlyMap<string, OrgRole>;
}

export interface Authenticator {
  /** The principal of a token, or undefined for an unknown or revoked one. */
  check(token: string): Promise<Principal | undefined>;
  /** Forgets cached answers: a token was revoked, or roles changed. */
  forget?(): void;
}

export interface ApiContext {
  store: Store;
  bus: EventBus;
  coordinator: Pick<
    Coordinator,
    'submit' | 'requestStop' | 'retry' | 'setDraining' | 'release' | 'breakLock' | 'locksDeclared'
  >;
  auth: Authenticator;
  metrics: Metrics;
  /** Ids of the nodes whose agents are connected now. */
  connectedNodes(): ReadonlySet<string>;
  /** Encrypts org secrets. */
  key: ServerKey;
  /** A token was revoked: forget cached answers, disconnect its agents (on every replica). */
  tokenRevoked(tokenId: string): Promise<void>;
  /** Whether the server is ready for traffic (store open, coordinator resumed). */
  ready(): boolean;
  now(): number;
  /** Job files and workspaces; absent: the file routes answer that files are not enabled. */
  files?: FileService;
  /** Checks the job tokens agents show for a job's files. */
  jobTokens?: JobTokens;
  /** External backends (hook tokens, sealing their credentials); absent: the backend routes answer 503. */
  backends?: BackendServices;
}

export type { NodeRecord };
