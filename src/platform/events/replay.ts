import type { Queryable } from '../db/types.js';
import { patternsRegex } from './patterns.js';

export interface ReplayFilter {
  subscriber: string;
  /** An event type or pattern (`immunization.*`); it must also match the subscriber's own patterns. */
  type?: string;
  /** occurred_at >= from */
  from?: Date;
  /** occurred_at <= to */
  to?: Date;
  aggregate?: { type: string; id: string };
}

export class UnknownSubscriberError extends Error {
  override readonly name = 'UnknownSubscriberError';
  constructor(readonly subscriber: string) {
    super(`no subscriber named "${subscriber}" has ever run`);
  }
}

/**
 * Schedules the matching events for delivery to one subscriber again: a delivery row is
 * created or reset to pending with fresh attempts (rows leased right now are left alone, they
 * are being delivered). Returns how many deliveries were scheduled.
 */
export async function replay(db: Queryable, filter: ReplayFilter): Promise<number> {
  const known = await db.query('SELECT 1 FROM iris_event_subscribers WHERE name = $1', [filter.subscriber]);
  if (known.rowCount === 0) throw new UnknownSubscriberError(filter.subscriber);
  const result = await db.query(
    `INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, attempts, next_attempt_at)
     SELECT s.name, e.id, e.seq, e.aggregate_type || '/' || e.aggregate_id, 'pending', 0, now()
     FROM iris_event_subscribers s JOIN iris_events e ON e.type ~ s.type_regex
     WHERE s.name = $1
       AND ($2::text IS NULL OR e.type ~ $2)
       AND ($3::timestamptz IS NULL OR e.occurred_at >= $3)
       AND ($4::timestamptz IS NULL OR e.occurred_at <= $4)
       AND ($5::text IS NULL OR (e.aggregate_type = $5 AND e.aggregate_id = $6))
     ON CONFLICT (subscriber, event_id) DO UPDATE
       SET status = 'pending', attempts = 0, next_attempt_at = now(), owner = NULL, lease_until = NULL,
           last_error = NULL, updated_at = now()
       WHERE iris_event_deliveries.status <> 'leased'`,
    [
      filter.subscriber,
      filter.type ? patternsRegex([filter.type]) : null,
      filter.from ?? null,
      filter.to ?? null,
      filter.aggregate?.type ?? null,
      filter.aggregate?.id ?? null,
    ],
  );
  return result.rowCount;
}
