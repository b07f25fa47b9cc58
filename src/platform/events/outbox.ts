import { v7 as uuidv7 } from 'uuid';
import type { Transaction } from '../db/types.js';
import type { Actor, DomainEvent, NewEvent } from './port.js';
import { isValidEventType } from './patterns.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 8 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class EventValidationError extends Error {
  override readonly name = 'EventValidationError';
}

/** The full envelope of a new event, validated; payloads are references, so they stay small. */
export function envelope<P>(event: NewEvent<P>, maxPayloadBytes: number): DomainEvent<P> {
  if (!isValidEventType(event.type)) throw new EventValidationError(`invalid event type "${event.type}"`);
  if (!event.aggregate?.type || !event.aggregate.id)
    throw new EventValidationError(`event ${event.type} needs an aggregate type and id`);
  if (event.id !== undefined && !UUID.test(event.id))
    throw new EventValidationError(`event id "${event.id}" is not a UUID`);
  const size = Buffer.byteLength(JSON.stringify(event.payload ?? null));
  if (size > maxPayloadBytes) {
    throw new EventValidationError(
      `payload of ${event.type} is ${size} bytes, above ${maxPayloadBytes}: events carry references, not documents`,
    );
  }
  return {
    id: event.id ?? uuidv7(),
    type: event.type,
    schemaVersion: event.schemaVersion ?? 1,
    occurredAt: new Date().toISOString(),
    actor: event.actor ?? null,
    aggregate: { type: event.aggregate.type, id: event.aggregate.id },
    correlationId: event.correlationId ?? null,
    causationId: event.causationId ?? null,
    payload: event.payload,
  };
}

export function aggregateKey(aggregate: { type: string; id: string }): string {
  return `${aggregate.type}/${aggregate.id}`;
}

function eventParams(e: DomainEvent<unknown>): unknown[] {
  return [
    e.id,
    e.type,
    e.schemaVersion,
    e.occurredAt,
    e.actor?.type ?? null,
    e.actor?.id ?? null,
    e.aggregate.type,
    e.aggregate.id,
    e.correlationId,
    e.causationId,
    JSON.stringify(e.payload ?? null),
  ];
}

const INSERT_EVENT = `INSERT INTO iris_events (id, type, schema_version, occurred_at, actor_type, actor_id,
  aggregate_type, aggregate_id, correlation_id, causation_id, payload)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) ON CONFLICT (id) DO NOTHING`;

export interface LocalDelivery {
  subscriber: string;
  /** `leased` to this process for immediate in-process delivery, or `pending` for the sweeper. */
  status: 'leased' | 'pending';
}

export interface InsertedDelivery {
  id: number;
  subscriber: string;
  status: 'leased' | 'pending';
}

/**
 * Writes the event, and the delivery rows of this process's matching subscribers, in one
 * statement of the caller's transaction, deferred to its next statement or its commit (nothing
 * in the transaction reads it). `inserted` gets the delivery rows before the commit; a
 * republished event id inserts nothing (the publish is idempotent) and gives none.
 */
export function deferEvent(
  tx: Transaction,
  event: DomainEvent<unknown>,
  local: readonly LocalDelivery[],
  owner: string,
  leaseMs: number,
  inserted: (rows: InsertedDelivery[]) => void,
): void {
  if (local.length === 0) {
    tx.defer(INSERT_EVENT, eventParams(event), { name: 'iris_events_insert' });
    return;
  }
  tx.defer(
    `WITH e AS (${INSERT_EVENT} RETURNING seq, id)
     INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, attempts, owner, lease_until)
     SELECT s.name, e.id, e.seq, $12, s.status,
            CASE WHEN s.status = 'leased' THEN 1 ELSE 0 END,
            CASE WHEN s.status = 'leased' THEN $13 END,
            CASE WHEN s.status = 'leased' THEN now() + $14 * interval '1 millisecond' END
     FROM e CROSS JOIN unnest($15::text[], $16::text[]) AS s(name, status)
     RETURNING id, subscriber, status`,
    [
      ...eventParams(event),
      aggregateKey(event.aggregate),
      owner,
      leaseMs,
      local.map((l) => l.subscriber),
      local.map((l) => l.status),
    ],
    {
      name: 'iris_events_insert_delivering',
      rows: (rows) => inserted(rows as unknown as InsertedDelivery[]),
    },
  );
}

export interface InsertedEventDelivery extends InsertedDelivery {
  event_id: string;
}

/**
 * Writes several events, and each one's deliveries to this process's matching subscribers, in
 * one statement of the caller's transaction, deferred like `deferEvent`'s (bulk work: one
 * statement instead of one per event). Events keep their order of sequence numbers; a
 * republished id inserts nothing.
 */
export function deferEvents(
  tx: Transaction,
  events: ReadonlyArray<{ event: DomainEvent<unknown>; local: readonly LocalDelivery[] }>,
  owner: string,
  leaseMs: number,
  inserted: (rows: InsertedEventDelivery[]) => void,
): void {
  if (events.length === 0) return;
  const rows = events.map(({ event: e }, n) => ({
    n,
    id: e.id,
    type: e.type,
    schema_version: e.schemaVersion,
    occurred_at: e.occurredAt,
    actor_type: e.actor?.type ?? null,
    actor_id: e.actor?.id ?? null,
    aggregate_type: e.aggregate.type,
    aggregate_id: e.aggregate.id,
    correlation_id: e.correlationId,
    causation_id: e.causationId,
    payload: e.payload ?? null,
  }));
  const deliveries = events.flatMap(({ event, local }) =>
    local.map((l) => ({
      event_id: event.id,
      subscriber: l.subscriber,
      status: l.status,
      aggregate_key: aggregateKey(event.aggregate),
    })),
  );
  tx.defer(
    `WITH e AS (
       INSERT INTO iris_events (id, type, schema_version, occurred_at, actor_type, actor_id,
         aggregate_type, aggregate_id, correlation_id, causation_id, payload)
       SELECT id, type, schema_version, occurred_at, actor_type, actor_id,
         aggregate_type, aggregate_id, correlation_id, causation_id, payload
       FROM json_to_recordset($1::json) AS r(n int, id uuid, type text, schema_version int,
         occurred_at timestamptz, actor_type text, actor_id text, aggregate_type text, aggregate_id text,
         correlation_id text, causation_id text, payload jsonb)
       ORDER BY n
       ON CONFLICT (id) DO NOTHING RETURNING seq, id)
     INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, attempts, owner, lease_until)
     SELECT d.subscriber, e.id, e.seq, d.aggregate_key, d.status,
            CASE WHEN d.status = 'leased' THEN 1 ELSE 0 END,
            CASE WHEN d.status = 'leased' THEN $2 END,
            CASE WHEN d.status = 'leased' THEN now() + $3 * interval '1 millisecond' END
     FROM e JOIN json_to_recordset($4::json) AS d(event_id uuid, subscriber text, status text, aggregate_key text)
       ON d.event_id = e.id
     RETURNING id, subscriber, status, event_id::text`,
    [JSON.stringify(rows), owner, leaseMs, JSON.stringify(deliveries)],
    {
      name: 'iris_events_insert_many',
      rows: (returned) => inserted(returned as unknown as InsertedEventDelivery[]),
    },
  );
}

export interface EventRow {
  id: string;
  type: string;
  schema_version: number;
  occurred_at: Date;
  actor_type: string | null;
  actor_id: string | null;
  aggregate_type: string;
  aggregate_id: string;
  correlation_id: string | null;
  causation_id: string | null;
  payload: unknown;
}

/** The event columns, qualified by `alias`, in the shape `toDomainEvent` reads. */
export function eventColumns(alias: string): string {
  return ['id', 'type', 'schema_version', 'occurred_at', 'actor_type', 'actor_id', 'aggregate_type']
    .concat(['aggregate_id', 'correlation_id', 'causation_id', 'payload'])
    .map((c) => `${alias}.${c} AS e_${c}`)
    .join(', ');
}

type Prefixed = { [K in keyof EventRow as `e_${K}`]: EventRow[K] };

export function toDomainEvent(row: Prefixed): DomainEvent {
  const actor: Actor | null =
    row.e_actor_type && row.e_actor_id
      ? { type: row.e_actor_type as Actor['type'], id: row.e_actor_id }
      : null;
  return {
    id: row.e_id,
    type: row.e_type,
    schemaVersion: row.e_schema_version,
    occurredAt: row.e_occurred_at.toISOString(),
    actor,
    aggregate: { type: row.e_aggregate_type, id: row.e_aggregate_id },
    correlationId: row.e_correlation_id,
    causationId: row.e_causation_id,
    payload: (row.e_payload ?? {}) as Record<string, unknown>,
  };
}

export type EventRowPrefixed = Prefixed;
