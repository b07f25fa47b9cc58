import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import type { Queryable } from '../../../src/platform/db/types.js';
import {
  rowSecurityExemptRole,
  settingsKey,
  settingsStatement,
} from '../../../src/platform/db/session-settings.js';
import { testDatabase } from '../../helpers/db.js';

const KIND = "SELECT current_setting('iris.scope_kind', true) AS v";

async function kind(q: Queryable, settings?: Record<string, string>): Promise<string | null> {
  const { rows } = await q.query<{ v: string | null }>(KIND, [], settings ? { settings } : {});
  return rows[0]?.v ?? null;
}

describe('session settings (row-level security inputs)', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
  });
  after(() => handle.close());

  test('a statement runs with the settings it names', async () => {
    assert.equal(await kind(handle.db, { 'iris.scope_kind': 'patients' }), 'patients');
    assert.equal(await kind(handle.db, { 'iris.scope_kind': 'organizations' }), 'organizations');
  });

  test('inside a transaction settings last until it ends, and change when a statement names others', async () => {
    await kind(handle.db, { 'iris.scope_kind': 'none' });
    await handle.db.transaction(async (tx) => {
      await tx.useSettings({ 'iris.scope_kind': 'all' });
      assert.equal(await kind(tx), 'all');
      assert.equal(await kind(tx, { 'iris.scope_kind': 'patients' }), 'patients');
      assert.equal(await kind(tx), 'patients');
    });
    // The embedded database is one session: what the transaction set is gone after it.
    assert.equal(await kind(handle.db), 'none');
  });

  test('a rolled-back transaction leaves the session as it was', async () => {
    await kind(handle.db, { 'iris.scope_kind': 'none' });
    await assert.rejects(
      handle.db.transaction(async (tx) => {
        await tx.useSettings({ 'iris.scope_kind': 'all' });
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal(await kind(handle.db), 'none');
  });

  test('the embedded database runs as its superuser, which row-level security exempts', async () => {
    assert.equal(await rowSecurityExemptRole(handle.db), 'postgres');
  });

  test('only iris.* settings can be set this way', () => {
    assert.throws(() => settingsStatement({ search_path: 'elsewhere' }, false), /not an iris\.\* setting/);
    assert.throws(() => settingsStatement({ 'iris.Scope; DROP': 'x' }, true), /not an iris\.\* setting/);
  });

  test('the key of a set of settings does not depend on their order', () => {
    assert.equal(
      settingsKey({ 'iris.a': '1', 'iris.b': '2' }),
      settingsKey({ 'iris.b': '2', 'iris.a': '1' }),
    );
    assert.notEqual(settingsKey({ 'iris.a': '1' }), settingsKey({ 'iris.a': '2' }));
  });
});
