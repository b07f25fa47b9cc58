import pg from 'pg';
import { AfterCommit, reportAfterCommitError } from './after-commit.js';
import type { Database, PoolStats, QueryOptions, QueryResult, Transaction } from './types.js';
import { INT8_OID, NUMERIC_OID, parseInt8, parseNumeric } from './type-parsers.js';

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return parseInt8;
    if (oid === NUMERIC_OID) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function statement(
  sql: string,
  params: readonly unknown[],
  options: QueryOptions | undefined,
  named: boolean,
): pg.QueryConfig {
  return {
    text: sql,
    values: params as unknown[],
    ...(named && options?.name ? { name: options.name } : {}),
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

/** A pooled connection to a PostgreSQL server (or to a shared PGlite over its socket). */
export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly named: boolean;

  constructor(options: PostgresOptions) {
    this.named = options.namedStatements ?? true;
    this.pool = new pg.Pool({
      // A connection string wins over separate fields in node-postgres, so give one or the other.
      ...(options.socketDir
        ? { host: options.socketDir, port: 5432, user: 'postgres', database: 'postgres' }
        : { connectionString: options.connectionString }),
      max: options.max,
      types,
      application_name: options.applicationName ?? 'iris',
      options: options.schema ? `-c search_path=${options.schema},public` : undefined,
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
    const result = await this.pool.query(statement(sql, params, options, this.named));
    return { rows: result.rows as T[], rowCount: result.rowCount ?? result.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const named = this.named;
    const afterCommit = new AfterCommit();
    let committed = false;
    try {
      await client.query('BEGIN');
      const tx: Transaction = {
        async query<R>(
          sql: string,
          params: readonly unknown[] = [],
          options?: QueryOptions,
        ): Promise<QueryResult<R>> {
          const result = await client.query(statement(sql, params, options, named));
          return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
        },
        async exec(sql: string): Promise<void> {
          await client.query(sql);
        },
        afterCommit: (cb) => afterCommit.add(cb),
      };
      const value = await fn(tx);
      await client.query('COMMIT');
      committed = true;
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
      if (committed) await afterCommit.run(reportAfterCommitError);
    }
  }

  stats(): PoolStats {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
