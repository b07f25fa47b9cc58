import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import type { Transaction } from '../../src/platform/db/types.js';
import { sentStatements } from '../helpers/statements.js';

const SETTING = "SELECT current_setting('iris.scope_patients', true) AS v";

describe('transactions on a PostgreSQL server', () => {
  let db: PostgresDatabase;
  before(() => {
    assert.ok(process.env.DATABASE_URL, 'this test needs DATABASE_URL (a PostgreSQL server)');
    // One connection: the temporary table below is the same one in every statement.
    db = new PostgresDatabase({ connectionString: process.env.DATABASE_URL, max: 1 });
  });
  after(() => db.close());

  /** The queries one transaction sends, as their first words. */
  async function sent(fn: (tx: Transaction) => Promise<void>): Promise<string[]> {
    const { texts } = await sentStatements(() => db.transaction(fn));
    return texts.map((t) => t.slice(0, 20));
  }

  test('the first settings of a transaction go out with its BEGIN: one round trip less', async () => {
    const texts = await sent(async (tx) => {
      await tx.useSettings({ 'iris.scope_patients': 'p1' });
      const { rows } = await tx.query<{ v: string }>(SETTING);
      assert.equal(rows[0]?.v, 'p1');
    });
    assert.deepEqual(texts, ['BEGIN; SELECT set_co', SETTING.slice(0, 20), 'COMMIT']);
  });

  test('values with quotes, backslashes and commas reach the server unchanged', async () => {
    const value = String.raw`a'b\c,"d" e\\'`;
    await db.transaction(async (tx) => {
      await tx.useSettings({ 'iris.scope_patients': value });
      assert.equal((await tx.query<{ v: string }>(SETTING)).rows[0]?.v, value);
      // Later changes go as a parameterised statement, as before.
      await tx.useSettings({ 'iris.scope_patients': `${value}2` });
      assert.equal((await tx.query<{ v: string }>(SETTING)).rows[0]?.v, `${value}2`);
    });
  });

  test('a transaction without statements sends nothing and still runs its after-commit work', async () => {
    let ran = false;
    const texts = await sent(async (tx) => {
      tx.afterCommit(() => {
        ran = true;
      });
    });
    assert.deepEqual(texts, []);
    assert.equal(ran, true);
  });

  test('a failure after the combined BEGIN rolls everything back', async () => {
    await db.query('CREATE TEMP TABLE IF NOT EXISTS tx_settings_probe (v text)');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.useSettings({ 'iris.scope_patients': 'p2' });
        await tx.query('INSERT INTO tx_settings_probe VALUES ($1)', ['written']);
        await tx.query('SELECT 1/0');
      }),
      /division by zero/,
    );
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_settings_probe');
    assert.equal(rows[0]?.n, 0);
    assert.equal((await db.query<{ v: string | null }>(SETTING)).rows[0]?.v ?? '', '');
  });

  test('a transaction of deferred statements only sends its settings to the session, once, and no BEGIN', async () => {
    await db.query('CREATE TEMP TABLE IF NOT EXISTS tx_deferred_probe (v text)');
    const write = (value: string) => async (tx: Transaction) => {
      await tx.useSettings({ 'iris.scope_patients': value });
      tx.defer("INSERT INTO tx_deferred_probe SELECT current_setting('iris.scope_patients', true)", []);
    };
    assert.deepEqual(await sent(write('p3')), ['SELECT set_config(s.', 'INSERT INTO tx_defer']);
    // The connection has them now: the next such transaction is the statement alone.
    assert.deepEqual(await sent(write('p3')), ['INSERT INTO tx_defer']);
    assert.deepEqual(await sent(write('p4')), ['SELECT set_config(s.', 'INSERT INTO tx_defer']);
    const { rows } = await db.query<{ v: string }>('SELECT v FROM tx_deferred_probe ORDER BY v');
    assert.deepEqual(
      rows.map((r) => r.v),
      ['p3', 'p3', 'p4'],
    );
  });

  test('settings asked for before a script go out with its BEGIN, in one query, in effect for it', async () => {
    await db.query('CREATE TEMP TABLE IF NOT EXISTS tx_exec_settings (v text)');
    const { texts } = await sentStatements(() =>
      db.transaction(async (tx) => {
        await tx.useSettings({ 'iris.scope_patients': 'p5' });
        await tx.exec("INSERT INTO tx_exec_settings SELECT current_setting('iris.scope_patients', true)");
      }),
    );
    assert.equal(texts.length, 2, texts.join('\n'));
    assert.match(
      texts[0] as string,
      /^BEGIN; SELECT set_config\('iris\.scope_patients', 'p5', true\); INSERT INTO/,
    );
    assert.equal(texts[1], 'COMMIT');
    const { rows } = await db.query<{ v: string }>('SELECT v FROM tx_exec_settings');
    assert.deepEqual(
      rows.map((r) => r.v),
      ['p5'],
    );
  });

  test('a script run first goes out with BEGIN, and what it did rolls back with the transaction', async () => {
    await db.query('CREATE TEMP TABLE IF NOT EXISTS tx_exec_probe (v text)');
    const texts = await sent(async (tx) => {
      await tx.exec("INSERT INTO tx_exec_probe VALUES ('kept')");
      await tx.query('SELECT 1');
    });
    assert.deepEqual(texts, ['BEGIN; INSERT INTO t', 'SELECT 1', 'COMMIT']);
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.exec("INSERT INTO tx_exec_probe VALUES ('undone')");
        await tx.query('SELECT 1/0');
      }),
      /division by zero/,
    );
    const { rows } = await db.query<{ v: string }>('SELECT v FROM tx_exec_probe ORDER BY v');
    assert.deepEqual(
      rows.map((r) => r.v),
      ['kept'],
    );
  });
});
