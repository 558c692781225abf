/**
 * What the HTTP routes are given: the subsystems they call, built by the server's composition root.
 * Routes never reach for globals and never write SQL: they use the store's methods and the
 * coordinator's.
 */
import type { Coordinator } from '../engine/coordinator.js';
import type { EventBus } from '../engine/event-bus.js';
import type { NodeRecord, Store, TokenKind } from '../store/store.js';
import type { Metrics } from './metrics.js';

/** Who made a request, from its token. */
export interface Principal {
  tokenId: string;
  kind: TokenKind;
  name: string;
}

export interface Authenticator {
  /** The principal of a token, or undefined for an unknown or revoked one. */
  check(token: string): Promise<Principal | undefined>;
}

export interface ApiContext {
  store: Store;
  bus: EventBus;
  coordinator: Pick<Coordinator, 'submit' | 'requestStop' | 'retry' | 'setDraining'>;
  auth: Authenticator;
  metrics: Metrics;
  /** Ids of the nodes whose agents are connected now. */
  connectedNodes(): ReadonlySet<string>;
  /** Whether the server is ready for traffic (store open, coordinator resumed). */
  ready(): boolean;
  now(): number;
}

export type { NodeRecord };
