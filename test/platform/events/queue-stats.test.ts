import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import type { Queryable } from '../../../src/platform/db/types.js';
import { queueStats } from '../../../src/platform/events/dlq.js';
import { testDatabase } from '../../helpers/db.js';
import { migrateEvents } from './helpers.js';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('queue statistics with days of finished deliveries', () => {
  let handle: DatabaseHandle;
  const FINISHED = 20_000;

  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
    // Two subscribers: 20,000 finished deliveries (done or discarded) and a few of each open status.
    await handle.db.query(
      `INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, created_at)
       SELECT 'sub.' || (g % 2), gen_random_uuid(), g, 'agg-' || g,
              CASE WHEN g % 10 = 0 THEN 'discarded' ELSE 'done' END, now() - interval '2 days'
         FROM generate_series(1, $1::int) g`,
      [FINISHED],
    );
    const open: Array<[string, string, number]> = [
      ['sub.0', 'pending', 3],
      ['sub.0', 'leased', 2],
      ['sub.0', 'dead', 4],
      ['sub.1', 'retry_wait', 1],
      ['sub.1', 'pending', 5],
    ];
    let seq = FINISHED;
    for (const [subscriber, status, count] of open) {
      for (let i = 0; i < count; i++) {
        seq += 1;
        await handle.db.query(
          `INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, created_at)
           VALUES ($1, gen_random_uuid(), $2, $3, $4, now() - interval '60 seconds')`,
          [subscriber, seq, `agg-${seq}`, status],
        );
      }
    }
    await handle.db.query('VACUUM ANALYZE iris_event_deliveries');
  });
  after(async () => {
    await handle.close();
  });

  test('counts each open status per subscriber, and the age of the oldest open delivery', async () => {
    const stats = await queueStats(handle.db);
    assert.deepEqual(
      stats.map(({ lagSeconds: _lag, ...counts }) => counts),
      [
        { subscriber: 'sub.0', pending: 3, leased: 2, retryWait: 0, dead: 4 },
        { subscriber: 'sub.1', pending: 5, leased: 0, retryWait: 1, dead: 0 },
      ],
    );
    for (const s of stats) assert.ok(s.lagSeconds >= 59 && s.lagSeconds < 600, `lag ${s.lagSeconds}`);
  });

  test('is answered from the index of unfinished deliveries, never by reading the finished ones', async () => {
    let sql = '';
    const recorder: Queryable = {
      query: (text, params, options) => {
        sql = text;
        return handle.db.query(text, params, options);
      },
    };
    await queueStats(recorder);
    const { rows } = await handle.db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] | string }>(
      `EXPLAIN (FORMAT JSON) ${sql}`,
    );
    const raw = rows[0]!['QUERY PLAN'];
    const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: PlanNode }];
    const scans = nodes(plan[0].Plan).filter((n) => n['Relation Name'] === 'iris_event_deliveries');
    assert.deepEqual(
      scans.map((n) => [n['Node Type'], n['Index Name']]),
      [['Index Only Scan', 'iris_event_deliveries_unfinished']],
    );
  });
});
