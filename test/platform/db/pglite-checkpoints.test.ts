import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PgliteDatabase } from '../../../src/platform/db/pglite.js';
import { PgliteCheckpoints } from '../../../src/platform/db/pglite-checkpoints.js';

const MB = 1024 * 1024;

async function redoPoint(db: PgliteDatabase): Promise<string> {
  const { rows } = await db.query<{ redo: string }>(
    'SELECT redo_lsn::text AS redo FROM pg_control_checkpoint()',
  );
  return rows[0]!.redo;
}

/** Writes about `mb` megabytes of WAL. */
async function write(db: PgliteDatabase, mb: number): Promise<void> {
  await db.query(`INSERT INTO filler (v) SELECT repeat('x', 500) FROM generate_series(1, $1::int)`, [
    Math.round((mb * MB) / 620),
  ]);
}

const segments = (dir: string) =>
  readdirSync(join(dir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;

// Single-user PostgreSQL has no checkpointer: without these checkpoints the WAL of an embedded
// server is never recycled and grows with everything ever written.
describe('embedded database checkpoints', () => {
  let dir: string;
  let db: PgliteDatabase;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iris-wal-'));
    db = await PgliteDatabase.open(dir);
    await db.query('CREATE TABLE filler (id serial PRIMARY KEY, v text NOT NULL)');
    await db.exec('CHECKPOINT');
  });
  after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a checkpoint is taken once enough WAL was written, and not before', async () => {
    const keeper = new PgliteCheckpoints(db, undefined, {
      intervalMs: 60_000,
      walBytes: 8 * MB,
      maxAgeMs: 3_600_000,
    });
    const before = await redoPoint(db);
    await write(db, 2);
    assert.equal(await keeper.tick(), false, 'below the volume');
    assert.equal(await redoPoint(db), before);
    await write(db, 8);
    assert.equal(await keeper.tick(), true, 'past the volume');
    assert.notEqual(await redoPoint(db), before, 'the redo point moved');
    assert.equal(await keeper.tick(), false, 'nothing written since');
  });

  test('an old checkpoint is renewed after a little writing, never for the checkpoint record alone', async () => {
    const keeper = new PgliteCheckpoints(db, undefined, {
      intervalMs: 60_000,
      walBytes: 1024 * MB,
      maxAgeMs: 0,
    });
    await db.exec('CHECKPOINT');
    assert.equal(await keeper.tick(), false, 'only the checkpoint itself was written');
    await write(db, 2);
    assert.equal(await keeper.tick(), true);
  });

  test('with checkpoints the WAL segments are reused instead of piling up', async () => {
    const keeper = new PgliteCheckpoints(db, undefined, {
      intervalMs: 60_000,
      walBytes: 16 * MB,
      maxAgeMs: 3_600_000,
    });
    await db.exec('CHECKPOINT');
    const start = segments(dir);
    for (let round = 0; round < 8; round++) {
      await write(db, 20);
      await keeper.tick();
    }
    // 160 MB went through the log: ten segments of 16 MB had it not been recycled.
    assert.ok(segments(dir) <= start + 3, `${segments(dir)} segments after 160 MB (from ${start})`);
  });

  test('the timer checks by itself and stop() waits for a checkpoint under way', async () => {
    const keeper = new PgliteCheckpoints(db, undefined, {
      intervalMs: 20,
      walBytes: 4 * MB,
      maxAgeMs: 3_600_000,
    });
    const before = await redoPoint(db);
    await write(db, 6);
    keeper.start();
    try {
      const deadline = Date.now() + 5_000;
      while ((await redoPoint(db)) === before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.notEqual(await redoPoint(db), before);
    } finally {
      await keeper.stop();
    }
  });
});
