import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { backupEmbedded, restoreEmbedded } from '../../../src/platform/db/backup.js';
import { openDatabase } from '../../../src/platform/db/open.js';

const temp = (name: string) => mkdtemp(join(tmpdir(), `iris-${name}-`));

describe('embedded backup and restore', () => {
  test('a backup restored into a fresh data dir reads the same data back', async () => {
    const source = await temp('src');
    const opened = await openDatabase({ dataDir: source, poolMax: 1 }, { share: false });
    await opened.db.exec(
      `CREATE TABLE patients_probe (id int PRIMARY KEY, label text NOT NULL, at timestamptz NOT NULL)`,
    );
    await opened.db.query(
      `INSERT INTO patients_probe VALUES (1, 'first', '2026-01-01T00:00:00Z'), (2, 'second', now())`,
    );
    await opened.close();

    const file = join(await temp('backup'), 'iris.tgz');
    const size = await backupEmbedded(source, file);
    assert.ok(size > 1000);
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    const target = await temp('dst');
    await restoreEmbedded(target, file, false);
    const restored = await openDatabase({ dataDir: target, poolMax: 1 }, { share: false });
    const { rows } = await restored.db.query<{ id: number; label: string; at: Date }>(
      'SELECT id, label, at FROM patients_probe ORDER BY id',
    );
    await restored.close();
    assert.deepEqual(
      rows.map((r) => [r.id, r.label]),
      [
        [1, 'first'],
        [2, 'second'],
      ],
    );
    assert.equal(rows[0]!.at.toISOString(), '2026-01-01T00:00:00.000Z');
  });

  test('restore refuses to overwrite a database unless forced, and then keeps the old one aside', async () => {
    const dir = await temp('existing');
    const opened = await openDatabase({ dataDir: dir, poolMax: 1 }, { share: false });
    await opened.db.exec('CREATE TABLE marker (id int)');
    await opened.close();
    const file = join(await temp('backup'), 'b.tgz');
    await backupEmbedded(dir, file);
    await assert.rejects(restoreEmbedded(dir, file, false), /already holds a database; pass --force/);
    const result = await restoreEmbedded(dir, file, true);
    assert.ok(result.keptAside);
    assert.ok((await readdir(dir)).some((name) => name.startsWith('pg.before-restore-')));
  });

  test('a file that is not a backup is refused and leaves no database behind', async () => {
    const dir = await temp('garbage');
    const file = join(dir, 'not-a-backup.tgz');
    await writeFile(file, 'this is not a tarball');
    const target = await temp('garbage-dst');
    await assert.rejects(restoreEmbedded(target, file, false), /not a usable IRIS backup/);
    assert.deepEqual(await readdir(target), []);
  });

  test('a failed forced restore puts the previous database back', async () => {
    const dir = await temp('keep');
    const opened = await openDatabase({ dataDir: dir, poolMax: 1 }, { share: false });
    await opened.db.exec('CREATE TABLE survivor (id int); INSERT INTO survivor VALUES (7);');
    await opened.close();
    const file = join(dir, 'junk.tgz');
    await writeFile(file, 'junk');
    await assert.rejects(restoreEmbedded(dir, file, true), /not a usable IRIS backup/);
    const again = await openDatabase({ dataDir: dir, poolMax: 1 }, { share: false });
    const { rows } = await again.db.query<{ id: number }>('SELECT id FROM survivor');
    await again.close();
    assert.deepEqual(rows, [{ id: 7 }]);
  });

  test('backup of an empty data dir is refused', async () => {
    await assert.rejects(backupEmbedded(await temp('empty'), join(tmpdir(), 'never.tgz')), /no database/);
  });
});
