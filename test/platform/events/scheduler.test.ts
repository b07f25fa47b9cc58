import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import { testDatabase } from '../../helpers/db.js';
import { fastBus, migrateEvents, statuses, until } from './helpers.js';

describe('scheduled jobs', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
  });
  after(() => handle.close());

  test('a due job runs exactly once across processes and its runs are recorded', async () => {
    const runs: string[] = [];
    const buses = ['one', 'two', 'three'].map((name) => {
      const bus = fastBus(handle.db, { schedulerIntervalMs: 60_000 });
      bus.schedule({
        name: 'nightly.reconcile',
        cron: '0 3 * * *',
        run: async () => {
          runs.push(name);
          await new Promise((r) => setTimeout(r, 30));
        },
      });
      return bus;
    });
    for (const bus of buses) await bus.start('worker');
    try {
      assert.deepEqual(await buses[0]!.runDueJobs(), [], 'not due yet');
      await handle.db.query(
        `UPDATE iris_jobs SET next_run_at = now() - interval '1 minute' WHERE name = 'nightly.reconcile'`,
      );
      const started = await Promise.all(buses.map((b) => b.runDueJobs()));
      assert.equal(started.flat().length, 1);
      assert.equal(runs.length, 1);
      const { rows } = await handle.db.query<{ next: Date }>(
        `SELECT next_run_at AS next FROM iris_jobs WHERE name = 'nightly.reconcile'`,
      );
      assert.ok(rows[0]!.next.getTime() > Date.now(), 'next slot is in the future');
      assert.equal(rows[0]!.next.getUTCHours(), 3);
      const [run] = await buses[1]!.jobHistory('nightly.reconcile', 10);
      assert.equal(run?.status, 'succeeded');
      assert.ok(run?.finishedAt);
    } finally {
      for (const bus of buses) await bus.stop();
    }
  });

  test('a failing job is recorded as failed; the loop runs due jobs by itself', async () => {
    const bus = fastBus(handle.db);
    let calls = 0;
    bus.schedule({
      name: 'every.second',
      cron: '* * * * * *',
      run: async () => {
        calls += 1;
        throw new Error('no registry today');
      },
    });
    await bus.start();
    try {
      await until(() => calls >= 1, 3000, 'a run');
      await until(
        async () => (await bus.jobHistory('every.second', 5)).some((r) => r.status === 'failed'),
        2000,
        'failed run recorded',
      );
      const [run] = (await bus.jobHistory('every.second', 5)).filter((r) => r.status === 'failed');
      assert.match(run!.error ?? '', /no registry today/);
    } finally {
      await bus.stop();
    }
  });

  test('nightly housekeeping deletes old finished deliveries and keeps events and open work', async () => {
    // The loop must not claim the job between making it due and running it here.
    const bus = fastBus(handle.db, {
      schedulerIntervalMs: 60_000,
      housekeeping: { deliveryRetentionDays: 7 },
    });
    bus.subscribe({ name: 'keep.sub', events: ['keep.*'], handle: async () => undefined });
    await bus.start();
    try {
      for (const id of ['old', 'new']) {
        await handle.db.transaction((tx) =>
          bus.publish(tx, { type: 'keep.x', aggregate: { type: 'K', id }, payload: {} }),
        );
      }
      await until(async () => (await statuses(handle.db, 'keep.sub')).done === 2, 2000, 'deliveries');
      await handle.db.query(
        `UPDATE iris_event_deliveries d SET updated_at = now() - interval '8 days'
         FROM iris_events e WHERE e.id = d.event_id AND e.aggregate_id = 'old'`,
      );
      await handle.db.query(
        `UPDATE iris_jobs SET next_run_at = now() - interval '1 second' WHERE name = 'events.housekeeping'`,
      );
      assert.deepEqual(await bus.runDueJobs(), ['events.housekeeping']);
      assert.deepEqual(await statuses(handle.db, 'keep.sub'), { done: 1 });
      const { rows } = await handle.db.query(`SELECT 1 FROM iris_events WHERE type = 'keep.x'`);
      assert.equal(rows.length, 2, 'events stay for replay');
    } finally {
      await bus.stop();
    }
  });

  test('an invalid cron expression is refused at registration', () => {
    const bus = fastBus(handle.db);
    assert.throws(() => bus.schedule({ name: 'bad.cron', cron: 'not a cron', run: async () => undefined }));
  });
});
