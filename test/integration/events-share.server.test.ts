import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/platform/db/migrations.js';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import { createEventBus } from '../../src/platform/events/index.js';
import { eventMigrations } from '../../src/platform/events/schema.js';
import { createLogger } from '../../src/platform/observability/logger.js';
import { spawnEntry, waitFor, type Spawned } from '../helpers/process.js';

const EVENTS = 2000;

describe('two worker processes share one event stream (PostgreSQL server)', () => {
  const url = process.env.DATABASE_URL;
  const schema = `events_${randomBytes(5).toString('hex')}`;
  let db: PostgresDatabase;

  before(async () => {
    assert.ok(url, 'this test needs DATABASE_URL (a PostgreSQL server)');
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    db = new PostgresDatabase({ connectionString: url, schema, max: 8 });
    await migrate(db, eventMigrations);
    await db.exec(
      'CREATE TABLE share_log (event_id uuid NOT NULL, worker text NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz)',
    );
  });
  after(async () => {
    await db?.close();
    if (!url) return;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  });

  test('every event is handled exactly once, by one worker at a time, and both workers take a share', async () => {
    const env = { DATABASE_URL: url!, EVENTS_SCHEMA: schema };
    const workers: Spawned[] = ['w1', 'w2'].map((name) =>
      spawnEntry('test/fixtures/events/worker.ts', ['share', name], env),
    );
    try {
      for (const w of workers)
        await waitFor(() => w.stdout().includes('READY'), 60_000, `worker (${w.stderr()})`);
      // Published by a process that runs no subscriber: the workers find the events in the table.
      const publisher = createEventBus(db, createLogger('silent'));
      for (let batch = 0; batch < EVENTS / 100; batch++) {
        await db.transaction(async (tx) => {
          for (let i = 0; i < 100; i++) {
            await publisher.publish(tx, {
              type: 'share.item',
              aggregate: { type: 'Item', id: String(batch * 100 + i) },
              payload: {},
            });
          }
        });
      }
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM iris_event_deliveries WHERE subscriber = 'share.sub' AND status = 'done'`,
        );
        if (rows[0]!.n === EVENTS) break;
        assert.ok(Date.now() < deadline, `only ${rows[0]!.n} of ${EVENTS} delivered`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const log = await db.query<{ event_id: string; n: number }>(
        'SELECT event_id, count(*)::int AS n FROM share_log GROUP BY event_id HAVING count(*) > 1',
      );
      assert.deepEqual(log.rows, [], 'no event handled twice');
      const total = await db.query<{ n: number }>('SELECT count(DISTINCT event_id)::int AS n FROM share_log');
      assert.equal(total.rows[0]!.n, EVENTS);
      const shares = await db.query<{ worker: string; n: number }>(
        'SELECT worker, count(*)::int AS n FROM share_log GROUP BY worker ORDER BY worker',
      );
      assert.equal(shares.rows.length, 2, `both workers took a share: ${JSON.stringify(shares.rows)}`);
      for (const s of shares.rows) assert.ok(s.n > 0);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      const codes = await Promise.all(workers.map((w) => w.exited));
      assert.deepEqual(codes, [0, 0], 'graceful stop on SIGTERM');
    }
  });
});
