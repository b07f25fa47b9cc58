import type { SessionSettings } from './session-settings.js';

export type { SessionSettings } from './session-settings.js';

/** A result row set; `rowCount` is the number of rows returned or affected. */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Prepare the statement under this name (per server connection) and reuse the plan: for hot
   * statements of fixed text. Ignored by the embedded database.
   */
  name?: string;
  /**
   * Settings the statement depends on (row-level security inputs), put in effect on its
   * connection first: for the session on the database, for the rest of it in a transaction.
   */
  settings?: SessionSettings;
}

/** Anything that runs parameterised SQL: the database itself or an open transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<T>>;
}

/** An open transaction; `exec` runs a multi-statement script inside it (migrations). */
export interface Transaction extends Queryable {
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` once the transaction has committed (never on rollback), e.g. to hand committed
   * events to in-process subscribers. Errors thrown by `fn` do not undo the commit.
   */
  afterCommit(fn: () => void | Promise<void>): void;
  /** Puts `settings` in effect for the rest of this transaction (a no-op when they already are). */
  useSettings(settings: SessionSettings): Promise<void>;
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/**
 * The one query layer: the same calls run on embedded PGlite and on a PostgreSQL server.
 * SQL is PostgreSQL's dialect everywhere.
 */
export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  stats(): PoolStats;
  close(): Promise<void>;
}
