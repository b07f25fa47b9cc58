import { createHash } from 'node:crypto';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { AfterCommit, reportAfterCommitError } from './after-commit.js';
import { DeferredQueue, sendDeferred } from './deferred.js';
import {
  SettingsTracker,
  settingsLiteralStatement,
  settingsStatement,
  type SessionSettings,
} from './session-settings.js';
import type { Database, PoolStats, QueryOptions, QueryResult, Transaction } from './types.js';
import { INT8_OID, NUMERIC_OID, parseInt8, parseNumeric } from './type-parsers.js';

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return parseInt8;
    if (oid === NUMERIC_OID) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** PostgreSQL keeps 63 bytes of an identifier. */
const MAX_NAME = 63;
const shortNames = new Map<string, string>();

/**
 * A statement name the server keeps whole. The server cuts longer names to 63 bytes, so two
 * long names sharing that prefix would collide ("prepared statement already exists"); they are
 * replaced by a digest instead.
 */
export function serverStatementName(name: string): string {
  if (Buffer.byteLength(name) <= MAX_NAME) return name;
  let short = shortNames.get(name);
  if (!short) {
    short = `s_${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
    shortNames.set(name, short);
  }
  return short;
}

async function applySettings(client: pg.PoolClient, settings: SessionSettings, local: boolean) {
  const set = settingsStatement(settings, local);
  await client.query(set.sql, set.params);
}

function statement(
  sql: string,
  params: readonly unknown[],
  options: QueryOptions | undefined,
  named: boolean,
): pg.QueryConfig {
  return {
    text: sql,
    values: params as unknown[],
    ...(named && options?.name ? { name: serverStatementName(options.name) } : {}),
  };
}

export interface PostgresOptions {
  connectionString?: string;
  /** Directory of the Unix socket of a shared embedded database, instead of a connection string. */
  socketDir?: string;
  max: number;
  /** Schema to put first on the search_path (test isolation). */
  schema?: string;
  applicationName?: string;
  /**
   * Whether to prepare named statements. Off for a shared embedded database: its one session
   * outlives each socket client, so a name prepared by an earlier client would collide.
   */
  namedStatements?: boolean;
}

/**
 * Session settings sent when connecting. On a server, JIT compilation is off: this is short
 * transactional work, and where the planner cannot see a LIMIT (a prepared statement) it
 * overestimates costs and compiled the event bus's claim each time, 120 to 250 ms of a claim
 * that runs in 2 ms.
 */
function startupOptions(options: PostgresOptions): string | undefined {
  const settings = [
    ...(options.socketDir ? [] : ['-c jit=off']),
    ...(options.schema ? [`-c search_path=${options.schema},public`] : []),
  ];
  return settings.length > 0 ? settings.join(' ') : undefined;
}

/** A pooled connection to a PostgreSQL server (or to a shared PGlite over its socket). */
export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly named: boolean;
  /**
   * The session settings each pooled connection has, so a statement sets them only when they
   * change. Not kept for a shared embedded database, whose one session other clients also set.
   */
  private readonly sessionSettings?: WeakMap<pg.PoolClient, SettingsTracker>;

  constructor(options: PostgresOptions) {
    this.named = options.namedStatements ?? true;
    if (!options.socketDir) this.sessionSettings = new WeakMap();
    this.pool = new pg.Pool({
      // A connection string wins over separate fields in node-postgres, so give one or the other.
      ...(options.socketDir
        ? { host: options.socketDir, port: 5432, user: 'postgres', database: 'postgres' }
        : { connectionString: options.connectionString }),
      max: options.max,
      types,
      application_name: options.applicationName ?? 'iris',
      options: startupOptions(options),
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
    });
    // An idle client losing its server must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async query<T>(
    sql: string,
    params: readonly unknown[] = [],
    options?: QueryOptions,
  ): Promise<QueryResult<T>> {
    if (options?.settings) return this.querySettled<T>(options.settings, sql, params, options);
    const result = await this.pool.query(statement(sql, params, options, this.named));
    return { rows: result.rows as T[], rowCount: result.rowCount ?? result.rows.length };
  }

  private async querySettled<T>(
    settings: SessionSettings,
    sql: string,
    params: readonly unknown[],
    options: QueryOptions,
  ): Promise<QueryResult<T>> {
    const client = await this.pool.connect();
    try {
      await this.sessionOf(client).use(settings);
      const result = await client.query(statement(sql, params, options, this.named));
      return { rows: result.rows as T[], rowCount: result.rowCount ?? result.rows.length };
    } finally {
      client.release();
    }
  }

  /** What the connection's session has in effect (a fresh tracker when that is not kept). */
  private sessionOf(client: pg.PoolClient): SettingsTracker {
    let session = this.sessionSettings?.get(client);
    if (!session) {
      session = new SettingsTracker((s) => applySettings(client, s, false));
      this.sessionSettings?.set(client, session);
    }
    return session;
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const named = this.named;
    const afterCommit = new AfterCommit();
    let committed = false;
    // BEGIN goes out with the transaction's first statement: as one simple query with the
    // settings asked for until then (row-level security inputs of every scoped write), so a
    // write costs one round trip less; not at all when the callback runs no statement.
    let begun = false;
    let pending: SessionSettings | undefined;
    /** BEGIN and the settings held until now, as the head of a simple query; marks the start. */
    const opening = () => {
      begun = true;
      const first = pending;
      pending = undefined;
      return first
        ? `BEGIN; ${settingsLiteralStatement(first, true, (v) => client.escapeLiteral(v))}`
        : 'BEGIN';
    };
    const begin = async () => {
      if (!begun) await client.query(opening());
    };
    const settings = new SettingsTracker(async (s) => {
      if (begun) return applySettings(client, s, true);
      // Held until the transaction's first statement, which may turn out to be its only one.
      pending = s;
    });
    const useSettings = (s: SessionSettings) => settings.use(s);
    const deferred = new DeferredQueue();
    /** `last`: at the commit, when nothing else will follow. */
    const flush = async (last = false) => {
      const batches = deferred.take();
      if (batches.length === 0) return;
      // A transaction that only deferred statements is, combined, one statement: atomic on its
      // own, so it goes without BEGIN and COMMIT (one round trip instead of three). Its settings
      // are then the session's, set only when the connection does not have them already.
      if (last && !begun && batches.length === 1) {
        if (pending) await this.sessionOf(client).use(pending);
      } else {
        await begin();
      }
      await sendDeferred(batches, async (combined) => {
        const options = combined.name ? { name: combined.name } : undefined;
        return (await client.query(statement(combined.sql, combined.params, options, named))).rows;
      });
    };
    try {
      const tx: Transaction = {
        async query<R>(
          sql: string,
          params: readonly unknown[] = [],
          options?: QueryOptions,
        ): Promise<QueryResult<R>> {
          if (options?.settings) await useSettings(options.settings);
          await flush();
          await begin();
          const result = await client.query(statement(sql, params, options, named));
          return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
        },
        async exec(sql: string): Promise<void> {
          await flush();
          // A simple query may hold several statements: BEGIN (with the settings asked for
          // until then) rides with the first one.
          await client.query(begun ? sql : `${opening()}; ${sql}`);
        },
        defer: (sql, params, options) => deferred.add(sql, params, options),
        afterCommit: (cb) => afterCommit.add(cb),
        useSettings,
      };
      const value = await fn(tx);
      await flush(true);
      if (begun) await client.query('COMMIT');
      committed = true;
      return value;
    } catch (error) {
      if (begun) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
      if (committed) await afterCommit.run(reportAfterCommitError);
    }
  }

  async *copyBinary(select: string): AsyncIterable<Buffer> {
    const client = await this.pool.connect();
    let completed = false;
    try {
      // 1 MB ahead: the server keeps producing while the consumer works on what it has.
      const sql = `COPY (${select}) TO STDOUT (FORMAT binary)`;
      const stream = client.query(copyTo(sql, { highWaterMark: 1 << 20 }));
      for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
      completed = true;
    } finally {
      // A COPY abandoned half way (an error, a consumer that stopped) leaves the connection
      // mid-protocol: it is closed, not reused.
      client.release(completed ? undefined : true);
    }
  }

  stats(): PoolStats {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
