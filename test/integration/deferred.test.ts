import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../src/platform/db/open.js';
import { testDatabase } from '../helpers/db.js';

// Runs on in-memory PGlite in `npm test` and on a PostgreSQL server in `npm run test:integration`.
describe(`deferred statements (${process.env.DATABASE_URL ? 'PostgreSQL server' : 'PGlite'})`, () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await handle.db.exec(
      'CREATE TABLE deferred_probe (id bigserial PRIMARY KEY, label text NOT NULL UNIQUE, n int, at timestamptz)',
    );
  });
  after(() => handle.close());

  const labels = async (prefix: string) =>
    (
      await handle.db.query<{ label: string; n: number | null }>(
        'SELECT label, n FROM deferred_probe WHERE label LIKE $1 ORDER BY label',
        [`${prefix}%`],
      )
    ).rows;

  test('several deferred statements run as one before the commit, each with its own parameters', async () => {
    const returned: Array<Record<string, unknown>[]> = [];
    await handle.db.transaction(async (tx) => {
      tx.defer('INSERT INTO deferred_probe (label, n) VALUES ($1, $2)', ['a-1', 1], { name: 'probe_two' });
      tx.defer(
        'INSERT INTO deferred_probe (label, n, at) VALUES ($1, $2, $3) RETURNING label, n',
        ['a-2', 2, new Date('2026-01-01T00:00:00Z')],
        { name: 'probe_three', rows: (rows) => returned.push(rows) },
      );
      tx.defer(
        'INSERT INTO deferred_probe (label) SELECT unnest($1::text[]) RETURNING label',
        [['a-3', 'a-4']],
        {
          rows: (rows) => returned.push(rows),
        },
      );
      assert.deepEqual(returned, [], 'nothing has been sent yet');
    });
    assert.deepEqual(await labels('a-'), [
      { label: 'a-1', n: 1 },
      { label: 'a-2', n: 2 },
      { label: 'a-3', n: null },
      { label: 'a-4', n: null },
    ]);
    assert.deepEqual(returned, [[{ label: 'a-2', n: 2 }], [{ label: 'a-3' }, { label: 'a-4' }]]);
  });

  test('statements with CTEs of their own combine, and with the same CTE names still all run', async () => {
    const returned: Record<string, unknown>[][] = [];
    const withCte =
      'WITH picked AS (SELECT $1::text AS label) INSERT INTO deferred_probe (label, n) SELECT label, $2 FROM picked RETURNING label, n';
    await handle.db.transaction(async (tx) => {
      tx.defer('INSERT INTO deferred_probe (label) VALUES ($1)', ['e-0']);
      for (const [label, n] of [
        ['e-1', 1],
        ['e-2', 2],
      ] as const) {
        tx.defer(withCte, [label, n], { rows: (rows) => returned.push(rows) });
      }
    });
    assert.deepEqual(await labels('e-'), [
      { label: 'e-0', n: null },
      { label: 'e-1', n: 1 },
      { label: 'e-2', n: 2 },
    ]);
    assert.deepEqual(returned, [[{ label: 'e-1', n: 1 }], [{ label: 'e-2', n: 2 }]]);
  });

  test('the next query of the transaction sees what was deferred before it', async () => {
    let seen = -1;
    let returned: Record<string, unknown>[] = [];
    await handle.db.transaction(async (tx) => {
      tx.defer('INSERT INTO deferred_probe (label, n) VALUES ($1, $2) RETURNING n', ['b-1', 7], {
        rows: (rows) => {
          returned = rows;
        },
      });
      const { rows } = await tx.query<{ n: number }>('SELECT n FROM deferred_probe WHERE label = $1', [
        'b-1',
      ]);
      seen = rows[0]?.n ?? -1;
    });
    assert.equal(seen, 7);
    assert.deepEqual(returned, [{ n: 7 }], 'a statement sent alone gives its rows as a query does');
  });

  test('a deferred statement that fails fails the commit, and nothing of the transaction stays', async () => {
    await handle.db.transaction(async (tx) => {
      await tx.query("INSERT INTO deferred_probe (label) VALUES ('c-existing')");
    });
    await assert.rejects(
      handle.db.transaction(async (tx) => {
        await tx.query("INSERT INTO deferred_probe (label) VALUES ('c-direct')");
        tx.defer('INSERT INTO deferred_probe (label) VALUES ($1)', ['c-deferred']);
        tx.defer('INSERT INTO deferred_probe (label) VALUES ($1)', ['c-existing']);
      }),
      /duplicate key|unique/i,
    );
    assert.deepEqual(await labels('c-'), [{ label: 'c-existing', n: null }]);
  });

  test('a transaction of deferred statements only is all or nothing, sent as one or several', async () => {
    await handle.db.transaction(async (tx) => {
      tx.defer('INSERT INTO deferred_probe (label) VALUES ($1)', ['f-existing']);
    });
    const withCte =
      'WITH picked AS (SELECT $1::text AS label) INSERT INTO deferred_probe (label) SELECT label FROM picked';
    // One combined statement, then two (their CTE names clash): the failing one undoes the rest.
    for (const statements of [
      [
        ['INSERT INTO deferred_probe (label) VALUES ($1)', 'f-1'],
        ['INSERT INTO deferred_probe (label) VALUES ($1)', 'f-existing'],
      ],
      [
        [withCte, 'f-2'],
        [withCte, 'f-existing'],
      ],
    ]) {
      await assert.rejects(
        handle.db.transaction(async (tx) => {
          for (const [sql, label] of statements) tx.defer(sql as string, [label]);
        }),
        /duplicate key|unique/i,
      );
    }
    assert.deepEqual(await labels('f-'), [{ label: 'f-existing', n: null }]);
  });

  test('a transaction that throws sends nothing it deferred', async () => {
    let called = false;
    await assert.rejects(
      handle.db.transaction(async (tx) => {
        tx.defer('INSERT INTO deferred_probe (label) VALUES ($1) RETURNING label', ['d-1'], {
          rows: () => {
            called = true;
          },
        });
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.equal(called, false);
    assert.deepEqual(await labels('d-'), []);
  });
});
