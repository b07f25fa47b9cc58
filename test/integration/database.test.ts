import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate, migrationStatus } from '../../src/platform/db/migrations.js';
import type { DatabaseHandle } from '../../src/platform/db/open.js';
import { testDatabase } from '../helpers/db.js';

// Runs on in-memory PGlite in `npm test` and on a PostgreSQL server in `npm run test:integration`.
describe(`database layer (${process.env.DATABASE_URL ? 'PostgreSQL server' : 'PGlite'})`, () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
  });
  after(() => handle.close());

  test('values come back with the same JavaScript types on both drivers', async () => {
    const { rows } = await handle.db.query<{
      big: number;
      exact: string;
      at: Date;
      doc: unknown;
      flag: boolean;
      none: null;
    }>(
      `SELECT 9007199254740991::int8 AS big, 12.50::numeric AS exact, '2026-01-02T03:04:05Z'::timestamptz AS at,
              '{"a":[1,2]}'::jsonb AS doc, true AS flag, NULL::text AS none`,
    );
    const row = rows[0]!;
    assert.equal(row.big, 9007199254740991);
    assert.equal(row.exact, '12.50');
    assert.ok(row.at instanceof Date);
    assert.equal(row.at.toISOString(), '2026-01-02T03:04:05.000Z');
    assert.deepEqual(row.doc, { a: [1, 2] });
    assert.equal(row.flag, true);
    assert.equal(row.none, null);
  });

  test('an int8 beyond the safe integer range is an error, not a silently wrong number', async () => {
    await assert.rejects(
      handle.db.query('SELECT 9007199254740993::int8 AS big'),
      /outside the safe integer range/,
    );
  });

  test('binary COPY streams a query; errors and early stops leave the database usable', async () => {
    const bytes = async (select: string, stopAfter = Infinity) => {
      let total = 0;
      let chunks = 0;
      for await (const chunk of handle.db.copyBinary(select)) {
        total += chunk.length;
        if (++chunks >= stopAfter) break;
      }
      return total;
    };
    // Header 19 bytes, per row a field count (2) and one int4 (4 + 4), trailer 2.
    assert.equal(await bytes('SELECT g::int4 FROM generate_series(1, 1000) g'), 19 + 1000 * 10 + 2);
    await assert.rejects(bytes('SELECT 1 / (g - 500) FROM generate_series(1, 1000) g'), /division by zero/);
    // More early stops than the pool has connections: each abandoned one must be given back.
    for (let i = 0; i < 10; i++) await bytes("SELECT repeat('x', 1000) FROM generate_series(1, 20000) g", 1);
    const { rows } = await handle.db.query<{ one: number }>('SELECT 1 AS one');
    assert.equal(rows[0]!.one, 1);
  });

  test('a transaction commits as a whole or not at all', async () => {
    await handle.db.exec('CREATE TABLE tx_probe (id int PRIMARY KEY, note text NOT NULL)');
    await handle.db.transaction(async (tx) => {
      await tx.query('INSERT INTO tx_probe VALUES ($1, $2)', [1, 'one']);
      await tx.query('INSERT INTO tx_probe VALUES ($1, $2)', [2, 'two']);
    });
    await assert.rejects(
      handle.db.transaction(async (tx) => {
        await tx.query('INSERT INTO tx_probe VALUES ($1, $2)', [3, 'three']);
        await tx.query('INSERT INTO tx_probe VALUES ($1, $2)', [1, 'duplicate']);
      }),
      /duplicate key/,
    );
    const { rows } = await handle.db.query<{ id: number }>('SELECT id FROM tx_probe ORDER BY id');
    assert.deepEqual(
      rows.map((r) => r.id),
      [1, 2],
    );
  });

  test('after-commit callbacks run once after a commit and never after a rollback', async () => {
    const ran: string[] = [];
    await handle.db.transaction(async (tx) => {
      tx.afterCommit(async () => {
        // The callback sees the committed state and may use the database itself.
        const { rows } = await handle.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM tx_probe');
        ran.push(`committed:${rows[0]!.n}`);
      });
      await tx.query('INSERT INTO tx_probe VALUES ($1, $2)', [10, 'ten']);
      assert.deepEqual(ran, []);
    });
    await assert.rejects(
      handle.db.transaction(async (tx) => {
        tx.afterCommit(() => {
          ran.push('rolled back');
        });
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.deepEqual(ran, ['committed:3']);
    await handle.db.query('DELETE FROM tx_probe WHERE id = 10');
  });

  test('concurrent transactions each see their own writes and all commit', async () => {
    await handle.db.exec(
      'CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counter VALUES (1, 0);',
    );
    await Promise.all(
      Array.from({ length: 20 }, () =>
        handle.db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>('SELECT n FROM counter WHERE id = 1 FOR UPDATE');
          await tx.query('UPDATE counter SET n = $1 WHERE id = 1', [rows[0]!.n + 1]);
        }),
      ),
    );
    const { rows } = await handle.db.query<{ n: number }>('SELECT n FROM counter WHERE id = 1');
    assert.equal(rows[0]!.n, 20);
  });

  test('migrations apply once, in order, and refuse an edited migration', async () => {
    const migrations = [
      { id: 'probe/0001_a', sql: 'CREATE TABLE mig_a (id int); CREATE TABLE mig_b (id int);' },
      { id: 'probe/0002_c', sql: 'ALTER TABLE mig_a ADD COLUMN note text;' },
    ];
    // Several runners at once, as when several processes start together.
    const runs = await Promise.all([migrate(handle.db, migrations), migrate(handle.db, migrations)]);
    assert.deepEqual(runs.flat().sort(), ['probe/0001_a', 'probe/0002_c']);
    assert.deepEqual(await migrate(handle.db, migrations), []);
    const status = await migrationStatus(handle.db, [...migrations, { id: 'probe/0003_d', sql: 'SELECT 1' }]);
    assert.deepEqual(
      status.map((s) => [s.id, s.appliedAt !== null]),
      [
        ['probe/0001_a', true],
        ['probe/0002_c', true],
        ['probe/0003_d', false],
      ],
    );
    await assert.rejects(
      migrate(handle.db, [{ id: 'probe/0001_a', sql: 'CREATE TABLE mig_a (id bigint);' }]),
      /was changed after it was applied/,
    );
  });

  test('a failing migration leaves nothing behind', async () => {
    await assert.rejects(
      migrate(handle.db, [
        { id: 'probe/0100_bad', sql: 'CREATE TABLE half_done (id int); SELECT no_such_function();' },
      ]),
    );
    const { rows } = await handle.db.query(`SELECT to_regclass('half_done') AS t`);
    assert.equal(rows[0]!.t, null);
    const status = await migrationStatus(handle.db, [{ id: 'probe/0100_bad', sql: '' }]);
    assert.equal(status[0]!.appliedAt, null);
  });
});
