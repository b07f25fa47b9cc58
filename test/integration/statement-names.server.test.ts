import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';

test('two prepared statements whose names share their first 63 bytes both run on one connection', async () => {
  assert.ok(process.env.DATABASE_URL, 'this test needs DATABASE_URL (a PostgreSQL server)');
  const db = new PostgresDatabase({ connectionString: process.env.DATABASE_URL, max: 1 });
  try {
    const prefix = `iris_statement_name_test_${'n'.repeat(40)}`;
    for (let round = 0; round < 2; round++) {
      const one = await db.query<{ v: number }>('SELECT 1 AS v', [], { name: `${prefix}_one` });
      const two = await db.query<{ v: number }>('SELECT 2 AS v', [], { name: `${prefix}_two` });
      assert.deepEqual([one.rows[0]?.v, two.rows[0]?.v], [1, 2]);
    }
  } finally {
    await db.close();
  }
});
