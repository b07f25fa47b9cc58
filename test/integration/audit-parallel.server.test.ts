import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runParallelWriters } from '../fixtures/audit/parallel.js';

describe('audit chain under truly parallel writers on PostgreSQL', () => {
  test('two processes with concurrent writers produce one chain that verifies', async () => {
    assert.ok(process.env.DATABASE_URL, 'this test needs DATABASE_URL (a PostgreSQL server)');
    await runParallelWriters(2, 4, 500);
  });

  test('three processes with eight writers each keep one valid chain', async () => {
    assert.ok(process.env.DATABASE_URL, 'this test needs DATABASE_URL (a PostgreSQL server)');
    await runParallelWriters(3, 8, 2000);
  });
});
