import type { Queryable } from '../db/types.js';
import { eventColumns, toDomainEvent, type EventRowPrefixed } from './outbox.js';
import type { DomainEvent } from './port.js';

export interface DeadLetter {
  /** The delivery id. */
  id: number;
  subscriber: string;
  attempts: number;
  lastError: string | null;
  failedAt: string;
  event: DomainEvent;
}

export interface DeadLetterQuery {
  subscriber?: string;
  type?: string;
  limit: number;
  /** Keyset paging: entries with a smaller id than this one. */
  before?: number;
}

type Row = EventRowPrefixed & {
  id: number;
  subscriber: string;
  attempts: number;
  last_error: string | null;
  updated_at: Date;
};

const SELECT = `SELECT d.id, d.subscriber, d.attempts, d.last_error, d.updated_at, ${eventColumns('e')}
  FROM iris_event_deliveries d JOIN iris_events e ON e.id = d.event_id`;

function toDeadLetter(row: Row): DeadLetter {
  return {
    id: row.id,
    subscriber: row.subscriber,
    attempts: row.attempts,
    lastError: row.last_error,
    failedAt: row.updated_at.toISOString(),
    event: toDomainEvent(row),
  };
}

/** Dead letters, newest first. */
export async function listDeadLetters(db: Queryable, query: DeadLetterQuery): Promise<DeadLetter[]> {
  const result = await db.query<Row>(
    `${SELECT} WHERE d.status = 'dead'
       AND ($1::text IS NULL OR d.subscriber = $1) AND ($2::text IS NULL OR e.type = $2)
       AND ($3::bigint IS NULL OR d.id < $3)
     ORDER BY d.id DESC LIMIT $4`,
    [query.subscriber ?? null, query.type ?? null, query.before ?? null, query.limit],
  );
  return result.rows.map(toDeadLetter);
}

export async function getDeadLetter(db: Queryable, id: number): Promise<DeadLetter | null> {
  const result = await db.query<Row>(`${SELECT} WHERE d.status = 'dead' AND d.id = $1`, [id]);
  const row = result.rows[0];
  return row ? toDeadLetter(row) : null;
}

/** Puts a dead letter back in line with fresh attempts; false when there is no such dead letter. */
export async function retryDeadLetter(db: Queryable, id: number): Promise<boolean> {
  const result = await db.query(
    `UPDATE iris_event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
     WHERE id = $1 AND status = 'dead'`,
    [id],
  );
  return result.rowCount > 0;
}

/** Gives up on a dead letter for good (kept as `discarded` for the record). */
export async function discardDeadLetter(db: Queryable, id: number): Promise<boolean> {
  const result = await db.query(
    `UPDATE iris_event_deliveries SET status = 'discarded', updated_at = now() WHERE id = $1 AND status = 'dead'`,
    [id],
  );
  return result.rowCount > 0;
}

export interface QueueStats {
  subscriber: string;
  pending: number;
  leased: number;
  retryWait: number;
  dead: number;
  /** Age in seconds of the oldest delivery not yet done (0 when none). */
  lagSeconds: number;
}

/**
 * Open deliveries per subscriber (metrics, health, admin). The status list is the predicate of
 * `iris_event_deliveries_unfinished`, so the counts come from that index and never read the
 * finished deliveries kept for days.
 */
export async function queueStats(db: Queryable): Promise<QueueStats[]> {
  const result = await db.query<{
    subscriber: string;
    pending: number;
    leased: number;
    retry_wait: number;
    dead: number;
    lag: number | null;
  }>(
    `SELECT subscriber,
       count(*) FILTER (WHERE status = 'pending')::int AS pending,
       count(*) FILTER (WHERE status = 'leased')::int AS leased,
       count(*) FILTER (WHERE status = 'retry_wait')::int AS retry_wait,
       count(*) FILTER (WHERE status = 'dead')::int AS dead,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE status IN ('pending', 'leased', 'retry_wait')))::float8 AS lag
     FROM iris_event_deliveries WHERE status IN ('pending', 'leased', 'retry_wait', 'dead')
     GROUP BY subscriber ORDER BY subscriber`,
  );
  return result.rows.map((r) => ({
    subscriber: r.subscriber,
    pending: r.pending,
    leased: r.leased,
    retryWait: r.retry_wait,
    dead: r.dead,
    lagSeconds: r.lag ?? 0,
  }));
}
