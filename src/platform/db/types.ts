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

/** Options of a deferred statement. */
export interface DeferOptions {
  /** As for a query: prepared under this name (combined statements under their names joined). */
  name?: string;
  /**
   * Receives the rows its RETURNING clause gave, when the statement has run (before the commit).
   * Combined with others, the rows come back through JSON: numbers, strings and booleans as
   * they were, timestamps as text.
   */
  rows?: (rows: Record<string, unknown>[]) => void;
}

/** An open transaction; `exec` runs a multi-statement script inside it (migrations). */
export interface Transaction extends Queryable {
  exec(sql: string): Promise<void>;
  /**
   * Queues a statement whose outcome nothing in the transaction waits for (an audit entry, an
   * outbox row). The queued statements go to the database together, as one statement, before
   * the transaction's next query or its commit, and their failure fails that query or the
   * commit: a round trip each saved, same atomicity.
   */
  defer(sql: string, params: readonly unknown[], options?: DeferOptions): void;
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
  /**
   * Streams the rows of a SELECT (no parameters) in PostgreSQL's binary COPY format: bulk reads
   * skip the row protocol's conversion of every field to a string. Chunks end anywhere, rows
   * can span them.
   */
  copyBinary(select: string): AsyncIterable<Buffer>;
  stats(): PoolStats;
  close(): Promise<void>;
}
