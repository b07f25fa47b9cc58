import { hostname } from 'node:os';
import type { Database } from '../db/types.js';
import type { Logger } from '../observability/logger.js';
import { renewLeases } from './deliveries.js';
import type { Dispatcher } from './dispatcher.js';
import type { Scheduler } from './scheduler.js';
import type { Sweeper } from './sweeper.js';

export type WorkerMode = 'embedded' | 'worker';

export interface WorkerOptions {
  id: string;
  heartbeatMs: number;
  /** A worker whose heartbeat is older than this is dead; its leases are released. */
  staleAfterMs: number;
  leaseMs: number;
  stopTimeoutMs: number;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  mode: string;
  started_at: Date;
  heartbeat_at: Date;
  stale: boolean;
}

/** Workers that stopped heartbeating, or whose process on this host is gone (a crash is seen at once). */
export async function findDeadWorkers(db: Database, self: string, staleAfterMs: number): Promise<string[]> {
  const result = await db.query<WorkerRow>(
    `SELECT id, host, pid, mode, started_at, heartbeat_at,
            heartbeat_at < now() - $2 * interval '1 millisecond' AS stale
     FROM iris_event_workers WHERE stopped_at IS NULL AND id <> $1`,
    [self, staleAfterMs],
  );
  const host = hostname();
  return result.rows.filter((w) => w.stale || (w.host === host && !pidAlive(w.pid))).map((w) => w.id);
}

/** Marks workers stopped and releases what they held: delivery leases, job leases, running job runs. */
export async function releaseWorkers(db: Database, ids: readonly string[], reason: string): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db.query<{ released: number }>(
    `WITH w AS (UPDATE iris_event_workers SET stopped_at = now() WHERE id = ANY($1::text[]) AND stopped_at IS NULL RETURNING 1),
     d AS (UPDATE iris_event_deliveries d SET status = 'pending', owner = NULL, lease_until = NULL, updated_at = now()
           FROM (SELECT id FROM iris_event_deliveries WHERE status = 'leased' AND owner = ANY($1::text[])
                 ORDER BY id FOR UPDATE) l
           WHERE d.id = l.id RETURNING 1),
     r AS (UPDATE iris_job_runs SET status = 'failed', error = $2, finished_at = now()
           WHERE status = 'running' AND owner = ANY($1::text[]) RETURNING 1),
     j AS (UPDATE iris_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ANY($1::text[]) RETURNING 1)
     SELECT (SELECT count(*) FROM d)::int AS released, (SELECT count(*) FROM w) + (SELECT count(*) FROM r) + (SELECT count(*) FROM j) AS other`,
    [ids, reason],
  );
  return result.rows[0]?.released ?? 0;
}

/**
 * One worker per process: the heartbeat row other processes watch, lease renewal for work in
 * progress, and the loops (sweeper, scheduler) started and stopped in order. The dispatcher
 * itself is driven by commits and claims, not by a timer.
 */
export class Worker {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastRenewal = 0;
  private beating: Promise<void> | undefined;
  lastHeartbeat: Date | null = null;
  running = false;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly dispatcher: Dispatcher,
    private readonly sweeper: Sweeper,
    private readonly scheduler: Scheduler,
    readonly options: WorkerOptions,
  ) {}

  async start(mode: WorkerMode): Promise<void> {
    await this.db.query(
      `INSERT INTO iris_event_workers (id, host, pid, mode) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopped_at = NULL`,
      [this.options.id, hostname(), process.pid, mode],
    );
    this.lastHeartbeat = new Date();
    this.running = true;
    this.sweeper.start();
    this.scheduler.start();
    this.scheduleBeat();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.heartbeatTimer);
    await this.beating;
    await this.scheduler.stop(this.options.stopTimeoutMs);
    await this.sweeper.stop();
    await this.dispatcher.stop(this.options.stopTimeoutMs);
    // Whatever is still leased (a handler that did not finish in time) goes back now, not at lease expiry.
    await releaseWorkers(this.db, [this.options.id], 'worker stopped');
  }

  /** Releases the work of dead workers; the sweeper calls it once per pass. */
  async reap(): Promise<void> {
    const dead = await findDeadWorkers(this.db, this.options.id, this.options.staleAfterMs);
    if (dead.length === 0) return;
    const released = await releaseWorkers(this.db, dead, 'worker stopped responding');
    this.logger.warn({ workers: dead, released }, 'released the work of dead event workers');
  }

  private scheduleBeat(): void {
    this.heartbeatTimer = setTimeout(() => {
      this.beating = this.beat().finally(() => {
        this.beating = undefined;
        if (this.running) this.scheduleBeat();
      });
    }, this.options.heartbeatMs);
  }

  private async beat(): Promise<void> {
    try {
      await this.db.query(
        'UPDATE iris_event_workers SET heartbeat_at = now(), stopped_at = NULL WHERE id = $1',
        [this.options.id],
      );
      this.lastHeartbeat = new Date();
      // Renew at a third of the lease so that slow handlers keep their deliveries.
      if (Date.now() - this.lastRenewal >= this.options.leaseMs / 3) {
        this.lastRenewal = Date.now();
        await renewLeases(this.db, this.dispatcher.leasedIds(), this.options.id, this.options.leaseMs);
        await this.scheduler.renew(this.options.leaseMs);
      }
    } catch (error) {
      this.logger.error({ err: error }, 'event worker heartbeat failed');
    }
  }
}
