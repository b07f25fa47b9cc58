import { PGlite, types } from '@electric-sql/pglite';
import { Mutex } from 'async-mutex';
import { AfterCommit, reportAfterCommitError } from './after-commit.js';
import { DeferredQueue, sendDeferred } from './deferred.js';
import { SettingsTracker, settingsStatement, type SessionSettings } from './session-settings.js';
import type { Database, PoolStats, QueryOptions, QueryResult, Transaction } from './types.js';
import { parseInt8, parseNumeric } from './type-parsers.js';

/**
 * Embedded PostgreSQL (PGlite) behind the common Database interface.
 *
 * PGlite is a single session. `gate` serialises whole units of work on it: one statement, or
 * one whole transaction, and (when the data dir is shared over the socket) one socket client's
 * exchange until its session is idle again. Without it, statements from elsewhere would run
 * inside somebody else's open transaction.
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly gate = new Mutex();
  /** The session's settings, so a statement sets them only when they change. */
  private readonly sessionSettings = new SettingsTracker((settings) =>
    this.applySettings(this.pg, settings, false),
  );

  private constructor(readonly pg: PGlite) {}

  /** `dataDir` undefined gives an in-memory database (tests). */
  static async open(dataDir?: string, loadDataDir?: Blob): Promise<PgliteDatabase> {
    const pg = await PGlite.create({
      dataDir,
      loadDataDir,
      parsers: { [types.INT8]: parseInt8, [types.NUMERIC]: parseNumeric },
    });
    return new PgliteDatabase(pg);
  }

  query<T>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<T>> {
    const settings = options?.settings;
    return this.exclusive(async () => {
      if (settings) await this.sessionSettings.use(settings);
      return this.run<T>(this.pg, sql, params);
    });
  }

  exec(sql: string): Promise<void> {
    return this.exclusive(async () => {
      await this.pg.exec(sql);
    });
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const afterCommit = new AfterCommit();
    const value = await this.exclusive(() =>
      this.pg.transaction(async (inner) => {
        const settings = new SettingsTracker((s) => this.applySettings(inner, s, true));
        const useSettings = (s: SessionSettings) => settings.use(s);
        // Combined as on a server, so deferred statements behave the same on both.
        const deferred = new DeferredQueue();
        const flush = () =>
          sendDeferred(
            deferred.take(),
            async (c) => (await this.run<Record<string, unknown>>(inner, c.sql, c.params)).rows,
          );
        const tx: Transaction = {
          query: async <R>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) => {
            if (options?.settings) await useSettings(options.settings);
            await flush();
            return this.run<R>(inner, sql, params);
          },
          exec: async (sql: string) => {
            await flush();
            await inner.exec(sql);
          },
          defer: (sql, params, options) => deferred.add(sql, params, options),
          afterCommit: (cb) => afterCommit.add(cb),
          useSettings,
        };
        const value = await fn(tx);
        await flush();
        return value;
      }),
    );
    // Outside the gate: callbacks may use the database themselves.
    await afterCommit.run(reportAfterCommitError);
    return value;
  }

  async *copyBinary(select: string): AsyncIterable<Buffer> {
    // The embedded database writes COPY output to a blob: one chunk.
    const result = await this.exclusive(() =>
      this.pg.query(`COPY (${select}) TO '/dev/blob' (FORMAT binary)`),
    );
    if (result.blob) yield Buffer.from(await result.blob.arrayBuffer());
  }

  /** A socket client shares this session and may change its settings: forget what was set. */
  forgetSessionSettings(): void {
    this.sessionSettings.forget();
  }

  stats(): PoolStats {
    return { total: 1, idle: this.gate.isLocked() ? 0 : 1, waiting: 0 };
  }

  async close(): Promise<void> {
    await this.gate.runExclusive(() => this.pg.close());
  }

  /** A consistent physical copy of the data dir, gzip-compressed tar. */
  dump(): Promise<Blob> {
    return this.gate.runExclusive(() => this.pg.dumpDataDir('gzip'));
  }

  /**
   * Runs `fn` alone on the session, from an event-loop turn of its own. The embedded database
   * runs statements in this thread and settles them without giving the loop back, so units
   * waiting at the gate (a busy event subscriber's) used to run as one chain of callbacks that
   * held off every socket read and timer until the queue was empty: HTTP requests of an
   * embedded server waited seconds behind background work. A turn between units lets them in.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.gate.runExclusive(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return fn();
    });
  }

  private async applySettings(
    target: Pick<PGlite, 'query'>,
    settings: SessionSettings,
    local: boolean,
  ): Promise<void> {
    const set = settingsStatement(settings, local);
    await target.query(set.sql, set.params);
  }

  private async run<T>(
    target: Pick<PGlite, 'query'>,
    sql: string,
    params: readonly unknown[],
  ): Promise<QueryResult<T>> {
    const result = await target.query<T>(sql, params as unknown[]);
    return { rows: result.rows, rowCount: Math.max(result.rows.length, result.affectedRows ?? 0) };
  }
}
