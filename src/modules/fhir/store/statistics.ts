import type { Database } from '../../../platform/db/types.js';
import { analyzeStore } from '../repo.js';

/** Below this many rows a table's statistics hardly matter; no refresh for fewer new rows. */
const MIN_NEW_ROWS = 1000;

/**
 * Refreshes the planner's statistics of the store after bursts of writes. Transaction Bundles
 * and imports grow the tables far faster than autovacuum looks at them (once a minute on a
 * server, never on the embedded database), and a search planned from the statistics of an
 * almost empty table can take seconds instead of a millisecond. The store is analyzed once the
 * resources written since the last refresh reach the number it held then (at least
 * MIN_NEW_ROWS): a table that grows to N rows is analyzed about log2(N) times.
 * The refresh runs in the background, one at a time; a failure is reported, never thrown.
 */
export class StoreStatistics {
  private written = 0;
  private threshold: number | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Called after a commit that stored `count` resource versions. */
  noteWrites(count: number): void {
    this.written += count;
    if (this.running || this.written < (this.threshold ?? MIN_NEW_ROWS)) return;
    this.running = this.refresh()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Resolves once no refresh is running (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async refresh(): Promise<void> {
    // First sight of a store that may already be large: size it before deciding to analyze.
    if (this.threshold === undefined) {
      this.threshold = Math.max(MIN_NEW_ROWS, await this.storedRows());
      if (this.written < this.threshold) return;
    }
    this.written = 0;
    await analyzeStore(this.db);
    this.threshold = Math.max(MIN_NEW_ROWS, await this.storedRows());
  }

  /** The planner's own count of resource versions (-1 before any analysis reads as 0). */
  private async storedRows(): Promise<number> {
    const result = await this.db.query<{ n: number }>(
      `SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = 'fhir_resource_history'::regclass`,
    );
    return result.rows[0]?.n ?? 0;
  }
}
