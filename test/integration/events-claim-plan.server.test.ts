import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { migrate } from '../../src/platform/db/migrations.js';
import type { DatabaseHandle } from '../../src/platform/db/open.js';
import type { Queryable } from '../../src/platform/db/types.js';
import { claimDue } from '../../src/platform/events/deliveries.js';
import { eventMigrations } from '../../src/platform/events/schema.js';
import { testDatabase } from '../helpers/db.js';

let handle: DatabaseHandle;
before(async () => {
  handle = await testDatabase();
  await migrate(handle.db, eventMigrations);
  // A deep queue: 60,000 pending deliveries of as many events.
  await handle.db.exec(`
    INSERT INTO iris_events (id, type, schema_version, occurred_at, aggregate_type, aggregate_id, payload)
      SELECT gen_random_uuid(), 'plan.probe', 1, now(), 'Probe', n::text, '{}'::jsonb FROM generate_series(1, 60000) n;
    INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status)
      SELECT 'plan.probe', id, seq, 'Probe/' || aggregate_id, 'pending' FROM iris_events;
    ANALYZE iris_events;
    ANALYZE iris_event_deliveries;`);
});
after(() => handle.close());

test('a claim looks up what it picked by index in its prepared (generic) plan, not by hashing the tables', async () => {
  let sql = '';
  const capture: Queryable = {
    async query<R>(text: string) {
      sql = text;
      return { rows: [] as R[], rowCount: 0 };
    },
  };
  await claimDue(capture, 'probe-worker', 30_000, [{ subscriber: 'plan.probe', limit: 100, ordered: false }]);
  const plan = await handle.db.transaction(async (tx) => {
    await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await tx.query(`PREPARE claim_plan_probe (text, int, text[], int[], bool[]) AS ${sql}`);
    try {
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN EXECUTE claim_plan_probe ('probe-worker', 30000, '{plan.probe}', '{100}', '{false}')`,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await tx.query('DEALLOCATE claim_plan_probe');
    }
  });
  assert.doesNotMatch(plan, /Hash Join|Seq Scan on iris_event/, plan);
  assert.match(plan, /Index Scan using iris_events_id_key/, plan);
});

test('connections to a server run without JIT compilation', async () => {
  const { rows } = await handle.db.query<{ jit: string }>('SHOW jit');
  assert.equal(rows[0]?.jit, 'off');
});
