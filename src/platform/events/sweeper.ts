import type { Database } from '../db/types.js';
import type { Logger } from '../observability/logger.js';
import { claimDue, expireLeases } from './deliveries.js';
import type { Dispatcher } from './dispatcher.js';
import type { SubscriberRegistry } from './subscribers.js';

export interface SweeperOptions {
  owner: string;
  leaseMs: number;
  intervalMs: number;
  claimBatch: number;
  /** Releases work held by dead workers; run at most once per interval. */
  reap(): Promise<void>;
}

/**
 * Inserts the delivery rows nobody wrote yet for this process's subscribers: events published
 * by processes that do not run them (CLI commands, API processes without that subscriber).
 * The cursor is a transaction id, not a sequence: every event whose transaction id is below
 * the snapshot's xmin has committed or aborted, so advancing the cursor to that xmin never
 * skips an event that commits later with a smaller sequence number.
 */
export async function backfill(db: Database, subscribers: readonly string[]): Promise<number> {
  if (subscribers.length === 0) return 0;
  const result = await db.query<{ inserted: number }>(
    `WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
     subs AS (SELECT name, type_regex, backfill_from FROM iris_event_subscribers WHERE name = ANY($1::text[])),
     ins AS (
       INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status)
       SELECT s.name, e.id, e.seq, e.aggregate_type || '/' || e.aggregate_id, 'pending'
       FROM subs s JOIN iris_events e ON e.tx_id >= s.backfill_from AND e.type ~ s.type_regex
       -- The lowest cursor as a constant: a range scan of the tx_id index, not a scan of every
       -- event ever published at each sweep (15 ms at 7,000 events, 0.3 ms with the bound).
       WHERE e.tx_id >= (SELECT min(backfill_from) FROM subs)
         AND NOT EXISTS (SELECT 1 FROM iris_event_deliveries d WHERE d.subscriber = s.name AND d.event_id = e.id)
       ON CONFLICT (subscriber, event_id) DO NOTHING
       RETURNING 1
     ),
     adv AS (
       UPDATE iris_event_subscribers SET backfill_from = (SELECT xmin FROM snap)
       WHERE name = ANY($1::text[]) AND backfill_from < (SELECT xmin FROM snap)
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM adv)::int AS advanced`,
    [subscribers],
    { name: 'iris_events_backfill' },
  );
  return result.rows[0]?.inserted ?? 0;
}

/**
 * The durable path: delivers from the table whatever the memory-first path did not — events
 * from other processes, due retries, expired leases and leases of dead workers. Claims are
 * batched; when a claim comes back full the next one follows at once.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private lastMaintenance = 0;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly registry: SubscriberRegistry,
    private readonly dispatcher: Dispatcher,
    private readonly options: SweeperOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Sweep now (or right after the sweep in progress). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.sweep().then(
      () => undefined,
      () => undefined,
    );
    void this.running.finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        setImmediate(() => this.wake());
      } else {
        this.timer = setTimeout(() => this.wake(), this.options.intervalMs);
      }
    });
  }

  /** One pass; returns how many deliveries it claimed. */
  async sweep(): Promise<number> {
    try {
      const subscribers = this.registry.list();
      if (Date.now() - this.lastMaintenance >= this.options.intervalMs) {
        this.lastMaintenance = Date.now();
        await this.options.reap();
        await expireLeases(this.db);
        await backfill(
          this.db,
          subscribers.map((s) => s.name),
        );
      }
      const requests = subscribers.map((s) => ({
        subscriber: s.name,
        limit: Math.min(this.options.claimBatch, this.dispatcher.capacity(s)),
        ordered: s.ordered,
      }));
      const claimed = await claimDue(this.db, this.options.owner, this.options.leaseMs, requests);
      this.dispatcher.enqueue(claimed);
      const counts = new Map<string, number>();
      for (const d of claimed) counts.set(d.subscriber, (counts.get(d.subscriber) ?? 0) + 1);
      for (const [i, s] of subscribers.entries()) {
        const limit = requests[i]!.limit;
        s.backlog = limit > 0 && (counts.get(s.name) ?? 0) >= limit;
        // Room left and a full claim: sweep again at once; otherwise the drained queue wakes us.
        if (s.backlog && this.dispatcher.capacity(s) > 0) this.again = true;
      }
      return claimed.length;
    } catch (error) {
      this.logger.error({ err: error }, 'event sweep failed');
      return 0;
    }
  }
}
