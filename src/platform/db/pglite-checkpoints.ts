import type { Logger } from 'pino';
import type { PgliteDatabase } from './pglite.js';

export interface CheckpointPolicy {
  /** How often the WAL written since the last checkpoint is looked at. */
  intervalMs: number;
  /** A checkpoint once this much WAL was written since the last one. */
  walBytes: number;
  /** A checkpoint at least this often once a little WAL was written (the checkpoint writes some itself). */
  maxAgeMs: number;
}

const SOME_WAL = 1024 * 1024;

// PostgreSQL's own defaults (checkpoint_timeout 5 min; max_wal_size 1 GB, which with
// checkpoint_completion_target 0.9 asks for a checkpoint after about half of it), looked at
// often enough that an import writing 20 MB a second does not run far past the volume.
export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = {
  intervalMs: 5_000,
  walBytes: 512 * 1024 * 1024,
  maxAgeMs: 5 * 60_000,
};

interface WalState {
  /** WAL bytes written since the redo point of the last checkpoint. */
  bytes: number;
  ageMs: number;
}

/**
 * Checkpoints for the embedded database. PGlite is PostgreSQL in single-user mode: there is no
 * checkpointer process, so without these the write-ahead log is never recycled. It grew to 9 GB
 * during a 100,000-patient import, and all of it would be replayed at the next start after a
 * crash. After a checkpoint, old segments are reused, so the WAL stays near `max_wal_size`.
 *
 * A checkpoint holds the database for as long as it writes the dirty pages out (about 0.1 s
 * per 100 MB written here), so it is taken by volume, or by age when little is written.
 */
export class PgliteCheckpoints {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: PgliteDatabase,
    private readonly logger: Logger | undefined,
    private readonly policy: CheckpointPolicy = DEFAULT_CHECKPOINT_POLICY,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.logger?.warn({ err: error }, 'embedded database checkpoint failed'))
        .finally(() => (this.running = undefined));
    }, this.policy.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Takes a checkpoint when the policy asks for one; returns whether it did. */
  async tick(): Promise<boolean> {
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
