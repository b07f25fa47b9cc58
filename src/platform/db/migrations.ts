import { createHash } from 'node:crypto';
import type { Database } from './types.js';

/** A forward-only schema change. `id` is `<module>/<NNNN>_<name>` and never changes once released. */
export interface Migration {
  id: string;
  sql: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Production starts only on a database whose migrations were applied by `iris migrate`. */
export class PendingMigrationsError extends Error {
  override readonly name = 'PendingMigrationsError';
}

// Any constant shared by every process that migrates the same database.
const MIGRATION_LOCK_KEY = 727_274_001;

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

export interface MigrationStatus {
  id: string;
  appliedAt: Date | null;
}

async function ensureTable(db: Database): Promise<void> {
  // Under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL.
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS iris_migrations (
      id text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
}

/**
 * Applies the pending migrations in order, each in its own transaction, under an advisory lock
 * so that several processes starting at once apply each migration exactly once. A migration
 * whose text changed after it was applied stops the run: released migrations are immutable.
 */
export async function migrate(db: Database, migrations: readonly Migration[]): Promise<string[]> {
  const ids = new Set<string>();
  for (const m of migrations) {
    if (ids.has(m.id)) throw new MigrationError(`migration id ${m.id} is declared twice`);
    ids.add(m.id);
  }
  await ensureTable(db);
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const existing = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM iris_migrations WHERE id = $1',
        [migration.id],
      );
      const row = existing.rows[0];
      if (row) {
        if (row.checksum !== checksum(migration.sql)) {
          throw new MigrationError(
            `migration ${migration.id} was changed after it was applied; add a new migration instead`,
          );
        }
        return false;
      }
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO iris_migrations (id, checksum) VALUES ($1, $2)', [
        migration.id,
        checksum(migration.sql),
      ]);
      return true;
    });
    if (done) applied.push(migration.id);
  }
  return applied;
}

export async function migrationStatus(
  db: Database,
  migrations: readonly Migration[],
): Promise<MigrationStatus[]> {
  await ensureTable(db);
  const result = await db.query<{ id: string; applied_at: Date }>(
    'SELECT id, applied_at FROM iris_migrations',
  );
  const applied = new Map(result.rows.map((r) => [r.id, r.applied_at]));
  return migrations.map((m) => ({ id: m.id, appliedAt: applied.get(m.id) ?? null }));
}
