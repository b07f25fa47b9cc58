import type { Database } from '../db/types.js';
import type { JobDefinition } from './scheduler.js';

export interface HousekeepingOptions {
  /** Finished deliveries (done, discarded) are kept this long for inspection and dedup. */
  deliveryRetentionDays: number;
  /** Job runs and stopped worker rows are kept this long. */
  historyRetentionDays: number;
}

export const DEFAULT_HOUSEKEEPING: HousekeepingOptions = {
  deliveryRetentionDays: 14,
  historyRetentionDays: 30,
};

/**
 * A nightly job that keeps the delivery table small. Events themselves stay: they are the log
 * that replay reads. A finished delivery older than the retention can no longer be recreated by
 * the backfill (its cursor moved past long ago), so deleting it does not cause a redelivery.
 */
export function housekeepingJob(db: Database, options: HousekeepingOptions): JobDefinition {
  return {
    name: 'events.housekeeping',
    cron: '17 3 * * *',
    async run() {
      await db.query(
        `DELETE FROM iris_event_deliveries WHERE status IN ('done', 'discarded')
         AND updated_at < now() - $1 * interval '1 day'`,
        [options.deliveryRetentionDays],
      );
      await db.query(`DELETE FROM iris_job_runs WHERE started_at < now() - $1 * interval '1 day'`, [
        options.historyRetentionDays,
      ]);
      await db.query(`DELETE FROM iris_event_workers WHERE stopped_at < now() - $1 * interval '1 day'`, [
        options.historyRetentionDays,
      ]);
    },
  };
}
