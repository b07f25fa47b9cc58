import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  combineDeferred,
  deferredBatches,
  type CombinedStatement,
} from '../../../src/platform/db/deferred.js';

function combined(c: CombinedStatement | undefined): CombinedStatement {
  assert.ok(c, 'the statements combine');
  return c;
}

describe('combining deferred statements', () => {
  test('one statement goes as it is', () => {
    const c = combined(combineDeferred([{ sql: 'INSERT INTO t VALUES ($1)', params: [1], name: 'one' }]));
    assert.equal(c.sql, 'INSERT INTO t VALUES ($1)');
    assert.deepEqual(c.params, [1]);
    assert.equal(c.name, 'one');
  });

  test('several become CTEs with their placeholders shifted past the ones before', () => {
    const c = combined(
      combineDeferred([
        { sql: 'INSERT INTO a VALUES ($1, $2)', params: ['x', 'y'], name: 'a' },
        { sql: 'INSERT INTO b VALUES ($2, $1, $10)', params: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], name: 'b' },
      ]),
    );
    assert.match(
      c.sql,
      /^WITH d0 AS \(INSERT INTO a VALUES \(\$1, \$2\)\), d1 AS \(INSERT INTO b VALUES \(\$4, \$3, \$12\)\)/,
    );
    assert.deepEqual(c.params, ['x', 'y', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(c.name, 'deferred:a+b');
  });

  test("a statement's own CTEs are lifted to the top level, where PostgreSQL requires them", () => {
    const c = combined(
      combineDeferred([
        { sql: 'INSERT INTO a VALUES ($1)', params: [1] },
        {
          sql: "WITH e AS (INSERT INTO ev VALUES ($1, ')(') RETURNING id), f AS (SELECT (1)) INSERT INTO dl SELECT id, $2 FROM e",
          params: [2, 3],
        },
      ]),
    );
    assert.equal(
      c.sql,
      "WITH d0 AS (INSERT INTO a VALUES ($1)), e AS (INSERT INTO ev VALUES ($2, ')(') RETURNING id), f AS (SELECT (1)), d1 AS (INSERT INTO dl SELECT id, $3 FROM e) SELECT NULL::int AS d, NULL::text AS r WHERE FALSE",
    );
  });

  test('statements whose CTE names clash are sent apart, in order', () => {
    const event = (n: number) => ({
      sql: 'WITH e AS (INSERT INTO ev VALUES ($1) RETURNING id) INSERT INTO dl SELECT id FROM e',
      params: [n],
    });
    assert.equal(combineDeferred([event(1), event(2)]), undefined);
    const batches = deferredBatches([{ sql: 'INSERT INTO a VALUES ($1)', params: [0] }, event(1), event(2)]);
    assert.equal(batches.length, 2);
    assert.deepEqual(
      batches.map((b) => b.params),
      [[0, 1], [2]],
    );
  });

  test('an unnamed part leaves the whole unnamed; returned rows reach their own statement', () => {
    const got: Record<string, unknown>[][] = [[], []];
    const c = combined(
      combineDeferred([
        { sql: 'INSERT INTO a VALUES ($1) RETURNING id', params: [1], rows: (r) => (got[0] = r) },
        { sql: 'INSERT INTO b VALUES ($1)', params: [2], name: 'b' },
        { sql: 'INSERT INTO c VALUES ($1) RETURNING id', params: [3], rows: (r) => (got[1] = r) },
      ]),
    );
    assert.equal(c.name, undefined);
    assert.match(c.sql, /SELECT 0 AS d, row_to_json\(d0\)::text AS r FROM d0 UNION ALL SELECT 2 AS d/);
    c.deliver([
      { d: 2, r: '{"id":30}' },
      { d: 0, r: '{"id":10}' },
      { d: 2, r: '{"id":31}' },
    ]);
    assert.deepEqual(got, [[{ id: 10 }], [{ id: 30 }, { id: 31 }]]);
  });
});
