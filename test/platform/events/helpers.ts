import { migrate } from '../../../src/platform/db/migrations.js';
import type { Database } from '../../../src/platform/db/types.js';
import {
  createEventBus,
  type EventBusOptions,
  type IrisEventBus,
} from '../../../src/platform/events/index.js';
import { eventMigrations } from '../../../src/platform/events/schema.js';
import { createLogger } from '../../../src/platform/observability/logger.js';

export const silent = createLogger('silent');

export async function migrateEvents(db: Database): Promise<void> {
  await migrate(db, eventMigrations);
}

/** A bus with fast loops, so that tests wait milliseconds rather than seconds. */
export function fastBus(db: Database, options: EventBusOptions = {}): IrisEventBus {
  return createEventBus(db, silent, {
    sweepIntervalMs: 20,
    heartbeatMs: 50,
    schedulerIntervalMs: 20,
    stopTimeoutMs: 2_000,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
}

export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function statuses(db: Database, subscriber: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM iris_event_deliveries WHERE subscriber = $1 GROUP BY status',
    [subscriber],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export const aggregate = (id: string) => ({ type: 'Patient', id });
