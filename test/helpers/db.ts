import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PgliteDatabase } from '../../src/platform/db/pglite.js';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import type { DatabaseHandle } from '../../src/platform/db/open.js';

/**
 * An isolated database for one test file: in-memory PGlite offline, or a fresh schema on the
 * PostgreSQL server named by DATABASE_URL (the integration suite), dropped on close.
 */
export async function testDatabase(): Promise<DatabaseHandle> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await PgliteDatabase.open();
    return { db, mode: 'embedded', close: () => db.close() };
  }
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = new PostgresDatabase({ connectionString: url, max: 8, schema });
  return {
    db,
    mode: 'server',
    async close() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: url });
      await cleanup.connect();
      await cleanup.query(`DROP SCHEMA ${schema} CASCADE`);
      await cleanup.end();
    },
  };
}
