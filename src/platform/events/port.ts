import type { Queryable, Transaction } from '../db/types.js';

/** Who caused something: a person, a machine client, or the platform itself. */
export interface Actor {
  type: 'user' | 'client' | 'system';
  id: string;
}

/**
 * A domain event as stored in the outbox and handed to subscribers. The payload carries
 * references (ids, codes), never raw PHI.
 */
export interface DomainEvent<P = Record<string, unknown>> {
  /** UUIDv7: time-ordered, unique across processes. */
  id: string;
  /** Dotted name, e.g. `immunization.recorded`. */
  type: string;
  schemaVersion: number;
  occurredAt: string;
  actor: Actor | null;
  aggregate: { type: string; id: string };
  correlationId: string | null;
  causationId: string | null;
  payload: P;
}

export interface NewEvent<P = Record<string, unknown>> {
  /** A UUID chosen by the caller makes publishing idempotent: the same id is stored once. */
  id?: string;
  type: string;
  schemaVersion?: number;
  actor?: Actor | null;
  aggregate: { type: string; id: string };
  correlationId?: string | null;
  /** The event that led to this one, when a handler publishes in reaction. */
  causationId?: string | null;
  payload: P;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface SubscriberDefinition {
  /** Stable, unique name: delivery state is kept per subscriber name. */
  name: string;
  /** Event types; `*` matches one dotted segment, `**` any rest (`immunization.*`, `**`). */
  events: string[];
  handle(event: DomainEvent, context: DeliveryContext): Promise<void>;
  /** Events handled at once by this subscriber in one process (default 1). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Deliver events of one aggregate strictly in order (one at a time per aggregate id). */
  orderedByAggregate?: boolean;
}

export interface DeliveryContext {
  attempt: number;
  /** Publish follow-up events in the subscriber's own transaction, with causation set. */
  publish<P>(tx: Transaction, event: NewEvent<P>): Promise<DomainEvent<P>>;
}

export interface EventPublisher {
  /**
   * Writes the event to the outbox inside `tx` (so it commits or rolls back with the state
   * change) and hands it to in-process subscribers once `tx` commits.
   */
  publish<P>(tx: Transaction, event: NewEvent<P>): Promise<DomainEvent<P>>;
  /** Like `publish` for several events at once, in one round trip (bulk work); keeps their order. */
  publishMany(tx: Transaction, events: ReadonlyArray<NewEvent<unknown>>): Promise<DomainEvent<unknown>[]>;
}

export interface EventBus extends EventPublisher {
  subscribe(definition: SubscriberDefinition): void;
}

/**
 * A long-running loop of a module (e.g. a per-registry dispatcher) that runs wherever the
 * event worker runs: in `iris worker` and in the API process in embedded mode.
 */
export interface BackgroundService {
  name: string;
  start(): Promise<void> | void;
  /** Stops taking work and waits for work in flight. */
  stop(): Promise<void>;
}

/** For code that may only read delivery state (health, metrics). */
export type EventReader = Queryable;
