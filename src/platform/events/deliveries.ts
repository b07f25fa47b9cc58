import type { Queryable } from '../db/types.js';
import type { DomainEvent } from './port.js';
import { eventColumns, toDomainEvent, type EventRowPrefixed } from './outbox.js';

/**
 * Delivery state, one row per (subscriber, event):
 *   pending → leased (owner, lease_until) → done
 *                    ↘ retry_wait (next_attempt_at) → leased ... → dead (DLQ) → pending (retry) | discarded
 * A lease that expires, or whose owner stops heartbeating, goes back to pending.
 */
export type DeliveryStatus = 'pending' | 'leased' | 'done' | 'retry_wait' | 'dead' | 'discarded';

export interface Delivery {
  id: number;
  subscriber: string;
  /** 1-based number of this attempt. */
  attempt: number;
  event: DomainEvent;
}

export interface ClaimRequest {
  subscriber: string;
  limit: number;
  /** Only the oldest open delivery of each aggregate may be claimed. */
  ordered: boolean;
}

const MAX_ERROR_CHARS = 2000;

type ClaimRow = EventRowPrefixed & { id: number; subscriber: string; attempts: number };

/**
 * Leases due deliveries (pending, or retry_wait whose time has come) to `owner`, up to each
 * subscriber's limit, in one statement. SKIP LOCKED lets several workers claim side by side
 * without waiting on, or taking, each other's rows.
 *
 * The picked ids reach the UPDATE as an array: the planner cannot know how many rows `LIMIT
 * s.lim` gives, and in the prepared (generic) plan it guessed a tenth of the queue and joined
 * by hashing the whole deliveries and events tables, one second per claim at two million rows.
 * Against an array it looks up each id, then each event, by index.
 */
export async function claimDue(
  db: Queryable,
  owner: string,
  leaseMs: number,
  requests: readonly ClaimRequest[],
): Promise<Delivery[]> {
  const wanted = requests.filter((r) => r.limit > 0);
  if (wanted.length === 0) return [];
  const result = await db.query<ClaimRow>(
    `WITH picked AS (
       SELECT c.id FROM unnest($3::text[], $4::int[], $5::bool[]) AS s(name, lim, ordered)
       CROSS JOIN LATERAL (
         SELECT x.id FROM iris_event_deliveries x
         WHERE x.subscriber = s.name AND x.status IN ('pending', 'retry_wait') AND x.next_attempt_at <= now()
           AND (NOT s.ordered OR NOT EXISTS (
             SELECT 1 FROM iris_event_deliveries y
             WHERE y.subscriber = x.subscriber AND y.aggregate_key = x.aggregate_key
               AND y.event_seq < x.event_seq AND y.status IN ('pending', 'leased', 'retry_wait')))
         ORDER BY x.next_attempt_at, x.event_seq
         LIMIT s.lim
         FOR UPDATE SKIP LOCKED
       ) c
     ),
     claimed AS (
       UPDATE iris_event_deliveries d
       SET status = 'leased', owner = $1, lease_until = now() + $2 * interval '1 millisecond',
           attempts = d.attempts + 1, updated_at = now()
       WHERE d.id = ANY (ARRAY(SELECT id FROM picked))
       RETURNING d.id, d.subscriber, d.attempts, d.event_id
     )
     SELECT d.id, d.subscriber, d.attempts, ${eventColumns('e')}
     FROM claimed d JOIN iris_events e ON e.id = d.event_id`,
    [
      owner,
      leaseMs,
      wanted.map((r) => r.subscriber),
      wanted.map((r) => Math.min(r.limit, 1000)),
      wanted.map((r) => r.ordered),
    ],
    { name: 'iris_events_claim' },
  );
  return result.rows
    .map((row) => ({
      id: row.id,
      subscriber: row.subscriber,
      attempt: row.attempts,
      event: toDomainEvent(row),
    }))
    .sort((a, b) => (a.event.id < b.event.id ? -1 : 1));
}

/**
 * The deliveries matching \`where\`, locked in id order. Every statement that updates several
 * deliveries takes its row locks through this, so two of them (completions written while the
 * heartbeat renews leases) can wait for each other but never deadlock: in heap or array order
 * they did, and the completions were lost.
 */
function inIdOrder(where: string, wait: '' | 'SKIP LOCKED' = ''): string {
  return `SELECT id FROM iris_event_deliveries WHERE ${where} ORDER BY id FOR UPDATE ${wait}`;
}

export async function markDone(db: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE iris_event_deliveries d
     SET status = 'done', owner = NULL, lease_until = NULL, last_error = NULL, updated_at = now()
     FROM (${inIdOrder('id = ANY($1::bigint[])')}) l WHERE d.id = l.id`,
    [ids],
    { name: 'iris_events_done' },
  );
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, MAX_ERROR_CHARS);
}

/** Records a failed attempt: waiting for a retry after `delayMs`, or dead-lettered when `delayMs` is null. */
export async function markFailed(
  db: Queryable,
  id: number,
  error: unknown,
  delayMs: number | null,
): Promise<void> {
  await db.query(
    `UPDATE iris_event_deliveries
     SET status = $2, next_attempt_at = now() + $3 * interval '1 millisecond',
         owner = NULL, lease_until = NULL, last_error = $4, updated_at = now()
     WHERE id = $1`,
    [id, delayMs === null ? 'dead' : 'retry_wait', delayMs ?? 0, errorText(error)],
  );
}

/** Hands leased deliveries that were never started back to the pool (breaker opened, shutdown). */
export async function release(db: Queryable, ids: readonly number[], owner: string): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE iris_event_deliveries d
     SET status = 'pending', owner = NULL, lease_until = NULL, attempts = greatest(d.attempts - 1, 0), updated_at = now()
     FROM (${inIdOrder("id = ANY($1::bigint[]) AND owner = $2 AND status = 'leased'")}) l WHERE d.id = l.id`,
    [ids, owner],
  );
}

export async function renewLeases(db: Queryable, ids: readonly number[], owner: string, leaseMs: number) {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE iris_event_deliveries d SET lease_until = now() + $3 * interval '1 millisecond'
     FROM (${inIdOrder("id = ANY($1::bigint[]) AND owner = $2 AND status = 'leased'")}) l WHERE d.id = l.id`,
    [ids, owner, leaseMs],
  );
}

/** Leases past their time go back to pending: their holder is gone or stuck. */
export async function expireLeases(db: Queryable): Promise<number> {
  const result = await db.query(
    `UPDATE iris_event_deliveries d SET status = 'pending', owner = NULL, lease_until = NULL, updated_at = now()
     FROM (${inIdOrder("status = 'leased' AND lease_until < now()", 'SKIP LOCKED')}) l WHERE d.id = l.id`,
  );
  return result.rowCount;
}
