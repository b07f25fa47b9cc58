import type { Logger } from 'pino';
import type { PgliteDatabase } from './pglite.js';
import { maintenanceSteps, tableActivity } from './pglite-vacuum.js';

export interface MaintenancePolicy {
  /** How often the WAL and the tables' activity are looked at. */
  intervalMs: number;
  /** VACUUM and ANALYZE statements stop being started once a look has spent this long. */
  vacuumBudgetMs: number;
  /** A checkpoint once this much WAL was written since the last one. */
  walBytes: number;
  /** A checkpoint at least this often once a little WAL was written (the checkpoint writes some itself). */
  maxAgeMs: number;
}

const SOME_WAL = 1024 * 1024;

// PostgreSQL's own defaults (checkpoint_timeout 5 min; max_wal_size 1 GB, which with
// checkpoint_completion_target 0.9 asks for a checkpoint after about half of it), looked at
// often enough that an import writing tens of MB a second does not run far past the volume.
export const DEFAULT_MAINTENANCE_POLICY: MaintenancePolicy = {
  intervalMs: 5_000,
  vacuumBudgetMs: 1_000,
  walBytes: 512 * 1024 * 1024,
  maxAgeMs: 5 * 60_000,
};

interface WalState {
  /** WAL bytes written since the redo point of the last checkpoint. */
  bytes: number;
  ageMs: number;
}

export interface MaintenanceDone {
  checkpoint: boolean;
  /** The VACUUM and ANALYZE statements run. */
  statements: string[];
}

/**
 * What PostgreSQL's background processes do, for the embedded database. PGlite is PostgreSQL in
 * single-user mode: no checkpointer and no autovacuum.
 *
 * - Checkpoints. Without them the write-ahead log is never recycled: it grew to 11 GB during a
 *   100,000-patient import, all of it to replay at the next start after a crash. After one,
 *   old segments are reused, so the WAL stays near `max_wal_size`.
 * - VACUUM and ANALYZE by autovacuum's rules. Without them dead rows are never reclaimed and
 *   the planner never learns a table's size: after the same import the audit intake (two live
 *   rows) held 1.1 million dead ones and the event deliveries had never been analyzed, and the
 *   forecast refresh ran at 92 deliveries a second; 339 after one VACUUM ANALYZE of those two.
 *
 * Either holds the database while it runs (a checkpoint about 0.1 s per 100 MB written here),
 * so a look starts no more VACUUM or ANALYZE once it has spent its budget; what is left waits
 * for the next look, most overdue first.
 */
export class PgliteMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: PgliteDatabase,
    private readonly logger: Logger | undefined,
    private readonly policy: MaintenancePolicy = DEFAULT_MAINTENANCE_POLICY,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.logger?.warn({ err: error }, 'embedded database maintenance failed'))
        .finally(() => (this.running = undefined));
    }, this.policy.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One look: the VACUUM and ANALYZE that are due (within the budget), then a checkpoint if due. */
  async tick(): Promise<MaintenanceDone> {
    const statements = await this.vacuum();
    return { checkpoint: await this.checkpoint(), statements };
  }

  private async vacuum(): Promise<string[]> {
    const started = performance.now();
    const done: string[] = [];
    for (const step of maintenanceSteps(await tableActivity(this.db))) {
      if (done.length > 0 && performance.now() - started >= this.policy.vacuumBudgetMs) break;
      const t = performance.now();
      await this.db.exec(step.sql);
      done.push(step.sql);
      const durationMs = Math.round(performance.now() - t);
      // The audit intake is vacuumed every few seconds under load: only the long ones are news.
      const level = durationMs >= 1000 ? 'info' : 'debug';
      this.logger?.[level]({ statement: step.sql, durationMs }, 'embedded database vacuum');
    }
    return done;
  }

  private async checkpoint(): Promise<boolean> {
    const wal = await this.wal();
    const due =
      wal.bytes >= this.policy.walBytes || (wal.bytes >= SOME_WAL && wal.ageMs >= this.policy.maxAgeMs);
    if (!due) return false;
    const started = performance.now();
    await this.db.exec('CHECKPOINT');
    this.logger?.info(
      { walBytes: wal.bytes, durationMs: Math.round(performance.now() - started) },
      'embedded database checkpoint',
    );
    return true;
  }

  private async wal(): Promise<WalState> {
    // The redo point is where the last checkpoint started; what lies past it awaits the next one.
    const { rows } = await this.db.query<{ bytes: number; age_ms: number }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), redo_lsn)::float8 AS bytes,
              (extract(epoch FROM clock_timestamp() - checkpoint_time) * 1000)::float8 AS age_ms
         FROM pg_control_checkpoint()`,
    );
    const row = rows[0];
    return { bytes: Math.max(0, row?.bytes ?? 0), ageMs: row?.age_ms ?? 0 };
  }
}
