import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Database, QueryResult } from '../../../src/platform/db/types.js';
import { StoreStatistics } from '../../../src/modules/fhir/store/statistics.js';
import { fhirHarness, FHIR } from './harness.js';

/** Answers the size probe with `rows()` and records every ANALYZE; fails them while `broken`. */
function fakeDatabase(rows: () => number) {
  const analyzed: string[] = [];
  let broken = false;
  const db = {
    async query<T>(sql: string): Promise<QueryResult<T>> {
      if (sql.startsWith('ANALYZE')) {
        if (broken) throw new Error('database went away');
        analyzed.push(sql);
        return { rows: [], rowCount: 0 };
      }
      return { rows: [{ n: rows() }] as T[], rowCount: 1 };
    },
  } as unknown as Database;
  return {
    db,
    analyzed,
    breakIt: (value: boolean) => {
      broken = value;
    },
  };
}

describe('store statistics refresh', () => {
  test('a new store is analyzed after 1,000 writes, then each time it has doubled', async () => {
    let size = 0;
    const fake = fakeDatabase(() => size);
    const stats = new StoreStatistics(fake.db, (error) => assert.fail(String(error)));
    stats.noteWrites(999);
    await stats.settled();
    assert.equal(fake.analyzed.length, 0);
    size = 1000;
    stats.noteWrites(1);
    await stats.settled();
    assert.equal(fake.analyzed.length, 1);
    assert.match(fake.analyzed[0] ?? '', /fhir_resource_history.*fhir_idx_token/);
    // Now 1,000 rows: the next refresh comes after 1,000 more writes.
    stats.noteWrites(600);
    await stats.settled();
    assert.equal(fake.analyzed.length, 1);
    size = 2000;
    stats.noteWrites(400);
    await stats.settled();
    assert.equal(fake.analyzed.length, 2);
    size = 2100;
    stats.noteWrites(1999);
    await stats.settled();
    assert.equal(fake.analyzed.length, 2, 'waits for as many writes as the store held');
  });

  test('a large store met for the first time is not analyzed after a few writes', async () => {
    const fake = fakeDatabase(() => 50_000);
    const stats = new StoreStatistics(fake.db, (error) => assert.fail(String(error)));
    stats.noteWrites(5000);
    await stats.settled();
    assert.equal(fake.analyzed.length, 0);
    stats.noteWrites(45_000);
    await stats.settled();
    assert.equal(fake.analyzed.length, 1);
  });

  test('a failed refresh is reported, not thrown, and the next burst tries again', async () => {
    const fake = fakeDatabase(() => 0);
    const errors: unknown[] = [];
    const stats = new StoreStatistics(fake.db, (error) => errors.push(error));
    fake.breakIt(true);
    stats.noteWrites(1000);
    await stats.settled();
    assert.equal(errors.length, 1);
    fake.breakIt(false);
    stats.noteWrites(1000);
    await stats.settled();
    assert.equal(fake.analyzed.length, 1);
  });

  test('writes through the API reach it, and the refresh runs on the real database', async () => {
    const h = await fhirHarness();
    try {
      const entry = Array.from({ length: 1000 }, (_, i) => ({
        request: { method: 'POST', url: 'Patient' },
        resource: { resourceType: 'Patient', name: [{ family: `Stat${i}` }] },
      }));
      const res = await h.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: FHIR,
        payload: { resourceType: 'Bundle', type: 'transaction', entry },
      });
      assert.equal(res.statusCode, 200, res.body);
      await h.rt.statistics.settled();
      const { rows } = await h.db.query<{ n: number }>(
        `SELECT reltuples::float8 AS n FROM pg_class WHERE oid = 'fhir_resource_history'::regclass`,
      );
      assert.equal(rows[0]?.n, 1000, 'the planner knows the store holds 1,000 versions');
    } finally {
      await h.close();
    }
  });
});
