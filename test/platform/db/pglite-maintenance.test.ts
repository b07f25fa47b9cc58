import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PgliteDatabase } from '../../../src/platform/db/pglite.js';
import { PgliteMaintenance, type MaintenancePolicy } from '../../../src/platform/db/pglite-maintenance.js';
import { maintenanceSteps, type TableActivity } from '../../../src/platform/db/pglite-vacuum.js';

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

const maintenance = (db: PgliteDatabase, policy: Partial<MaintenancePolicy>) =>
  new PgliteMaintenance(db, undefined, {
    intervalMs: 60_000,
    vacuumBudgetMs: 1_000,
    walBytes: 512 * MB,
    maxAgeMs: 3_600_000,
    ...policy,
  });

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
    const keeper = maintenance(db, { walBytes: 8 * MB });
    const before = await redoPoint(db);
    await write(db, 2);
    assert.equal((await keeper.tick()).checkpoint, false, 'below the volume');
    assert.equal(await redoPoint(db), before);
    await write(db, 8);
    assert.equal((await keeper.tick()).checkpoint, true, 'past the volume');
    assert.notEqual(await redoPoint(db), before, 'the redo point moved');
    assert.equal((await keeper.tick()).checkpoint, false, 'nothing written since');
  });

  test('an old checkpoint is renewed after a little writing, never for the checkpoint record alone', async () => {
    const keeper = maintenance(db, { walBytes: 1024 * MB, maxAgeMs: 0 });
    await db.exec('CHECKPOINT');
    assert.equal((await keeper.tick()).checkpoint, false, 'only the checkpoint itself was written');
    await write(db, 2);
    assert.equal((await keeper.tick()).checkpoint, true);
  });

  test('with checkpoints the WAL segments are reused instead of piling up', async () => {
    const keeper = maintenance(db, { walBytes: 16 * MB });
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
    const keeper = maintenance(db, { intervalMs: 20, walBytes: 4 * MB });
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

async function activity(db: PgliteDatabase, table: string) {
  await db.query('SELECT pg_stat_force_next_flush()');
  const { rows } = await db.query<{ dead: number; analyzed: boolean }>(
    `SELECT n_dead_tup::int AS dead, last_analyze IS NOT NULL AS analyzed
       FROM pg_stat_user_tables WHERE relname = $1`,
    [table],
  );
  return rows[0]!;
}

// Single-user PostgreSQL has no autovacuum either: dead rows stayed (1.1 million in the audit
// intake after a large import) and busy tables were never analyzed.
describe('embedded database vacuum and analyze', () => {
  let db: PgliteDatabase;
  const settle = async (keeper: PgliteMaintenance) => {
    for (let i = 0; i < 10 && (await keeper.tick()).statements.length > 0; i++);
  };
  before(async () => {
    db = await PgliteDatabase.open();
    for (const t of ['churn', 'quiet']) {
      await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text NOT NULL)`);
      await db.query(`INSERT INTO ${t} SELECT g, 'x' FROM generate_series(1, 2000) g`);
    }
    await db.query(
      `CREATE TABLE tuned (id int PRIMARY KEY, v text NOT NULL)
         WITH (autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 10)`,
    );
    await db.query(
      'CREATE TABLE opted_out (id int PRIMARY KEY, v text NOT NULL) WITH (autovacuum_enabled = false)',
    );
    for (const t of ['tuned', 'opted_out']) {
      await db.query(`INSERT INTO ${t} SELECT g, 'x' FROM generate_series(1, 10000) g`);
    }
  });
  after(() => db.close());

  test('new tables are analyzed, dead rows reclaimed, and a table nobody touched is left alone', async () => {
    const keeper = maintenance(db, {});
    const first = await keeper.tick();
    assert.ok(first.statements.includes('VACUUM (ANALYZE) public.churn'), first.statements.join('; '));
    assert.ok(!first.statements.some((s) => s.includes('opted_out')), 'autovacuum_enabled = false is kept');
    await settle(keeper);
    assert.equal((await activity(db, 'churn')).analyzed, true);

    await db.query('DELETE FROM churn WHERE id <= 1000');
    assert.equal((await activity(db, 'churn')).dead, 1000);
    const after = await keeper.tick();
    assert.ok(after.statements.includes('VACUUM (ANALYZE) public.churn'), after.statements.join('; '));
    assert.ok(!after.statements.some((s) => s.includes('quiet')), 'the quiet table is not touched again');
    assert.equal((await activity(db, 'churn')).dead, 0);
  });

  test("a table's own autovacuum settings decide when it is analyzed", async () => {
    const keeper = maintenance(db, {});
    await settle(keeper);
    // 150 changed rows of 10,000: past 10 + 1% for the tuned table, short of 50 + 10% by default.
    await db.query(`UPDATE tuned SET v = 'y' WHERE id <= 150`);
    await db.query(`UPDATE quiet SET v = 'y' WHERE id <= 150`);
    const done = await keeper.tick();
    assert.ok(done.statements.includes('ANALYZE public.tuned'), done.statements.join('; '));
    assert.ok(!done.statements.some((s) => s.includes('quiet')), done.statements.join('; '));
  });

  test('a look starts no more statements once its budget is spent; the rest wait for the next', async () => {
    const keeper = maintenance(db, { vacuumBudgetMs: 0 });
    await db.query('DELETE FROM quiet WHERE id <= 1000');
    await db.query(`UPDATE churn SET v = 'z'`);
    const first = await keeper.tick();
    assert.equal(first.statements.length, 1);
    const second = await keeper.tick();
    assert.equal(second.statements.length, 1);
    assert.notEqual(second.statements[0], first.statements[0]);
  });
});

describe('maintenanceSteps', () => {
  const table = (over: Partial<TableActivity>): TableActivity => ({
    table: 'public.t',
    live: 1000,
    dead: 0,
    modified: 0,
    inserted: 0,
    reltuples: 1000,
    xidAge: 1000,
    options: null,
    ...over,
  });

  test('old row ids are frozen even when nothing else is due', () => {
    assert.deepEqual(
      maintenanceSteps([table({ xidAge: 160_000_000 })]).map((s) => s.sql),
      ['VACUUM public.t'],
    );
  });

  test('a table never vacuumed is measured by its live rows, and the most overdue comes first', () => {
    const steps = maintenanceSteps([
      table({ table: 'public.a', reltuples: -1, live: 100, dead: 80 }),
      table({ table: 'public.b', dead: 251 }),
      table({ table: 'public.c', modified: 2000, inserted: 500 }),
    ]);
    assert.deepEqual(
      steps.map((s) => s.sql),
      ['ANALYZE public.c', 'VACUUM public.a', 'VACUUM public.b'],
    );
  });

  test('many inserted rows call for a vacuum, for the visibility map', () => {
    assert.deepEqual(
      maintenanceSteps([table({ inserted: 1300, modified: 1300 })]).map((s) => s.sql),
      ['VACUUM (ANALYZE) public.t'],
    );
  });
});
