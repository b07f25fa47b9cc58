import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import type { DomainEvent } from '../../../src/platform/events/port.js';
import { UnknownSubscriberError } from '../../../src/platform/events/index.js';
import { testDatabase } from '../../helpers/db.js';
import { aggregate, fastBus, migrateEvents, statuses, until } from './helpers.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event bus: deduplication, replay, ordering, recovery', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
  });
  after(() => handle.close());

  test('duplicates are suppressed: a republished id, sweeps, and a second process deliver nothing twice', async () => {
    const a = fastBus(handle.db);
    const b = fastBus(handle.db);
    const seen: string[] = [];
    const def = (name: string) => ({
      name: 'dedup.sub',
      events: ['dedup.*'],
      handle: async (e: DomainEvent) => void seen.push(`${name}:${e.id}`),
    });
    a.subscribe(def('a'));
    b.subscribe(def('b'));
    await a.start();
    await b.start('worker');
    try {
      const id = '01900000-0000-7000-8000-000000000001';
      for (let i = 0; i < 2; i++) {
        await handle.db.transaction((tx) =>
          a.publish(tx, { id, type: 'dedup.once', aggregate: aggregate('d'), payload: { i } }),
        );
      }
      for (let i = 0; i < 5; i++) {
        await a.sweep();
        await b.sweep();
      }
      await pause(100);
      assert.deepEqual(seen, [`a:${id}`]);
      const { rows } = await handle.db.query<{ payload: { i: number } }>(
        'SELECT payload FROM iris_events WHERE id = $1',
        [id],
      );
      assert.deepEqual(
        rows.map((r) => r.payload.i),
        [0],
        'the first publish wins',
      );
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test('replay re-delivers by type, time range and aggregate to one subscriber only', async () => {
    const bus = fastBus(handle.db);
    const got: Record<string, string[]> = { 'replay.one': [], 'replay.two': [] };
    for (const name of Object.keys(got)) {
      bus.subscribe({
        name,
        events: ['rx.**'],
        handle: async (e) => void got[name]!.push(`${e.type}@${e.aggregate.id}`),
      });
    }
    await bus.start();
    try {
      const publish = (type: string, id: string) =>
        handle.db.transaction((tx) => bus.publish(tx, { type, aggregate: aggregate(id), payload: {} }));
      await publish('rx.a', 'p1');
      await publish('rx.b', 'p1');
      await pause(20);
      const middle = new Date();
      await pause(20);
      await publish('rx.a', 'p2');
      await until(
        async () =>
          (await statuses(handle.db, 'replay.one')).done === 3 &&
          (await statuses(handle.db, 'replay.two')).done === 3,
        2000,
        'first deliveries',
      );
      got['replay.one'] = [];
      got['replay.two'] = [];

      assert.equal(await bus.replay({ subscriber: 'replay.one', type: 'rx.a' }), 2);
      await until(() => got['replay.one']!.length === 2, 2000, 'replay by type');
      await until(
        async () => (await statuses(handle.db, 'replay.one')).done === 3,
        2000,
        'replayed rows done',
      );
      assert.deepEqual(got['replay.one']!.sort(), ['rx.a@p1', 'rx.a@p2']);

      got['replay.one'] = [];
      assert.equal(await bus.replay({ subscriber: 'replay.one', from: middle }), 1);
      assert.equal(await bus.replay({ subscriber: 'replay.one', to: middle, aggregate: aggregate('p1') }), 2);
      await until(() => got['replay.one']!.length === 3, 2000, 'replay by time and aggregate');
      assert.deepEqual(got['replay.one']!.sort(), ['rx.a@p1', 'rx.a@p2', 'rx.b@p1']);
      assert.deepEqual(got['replay.two'], [], 'other subscribers are untouched');

      await assert.rejects(bus.replay({ subscriber: 'nobody' }), UnknownSubscriberError);
    } finally {
      await bus.stop();
    }
  });

  test('ordered subscribers get each aggregate strictly in order, even across a retry', async () => {
    const bus = fastBus(handle.db, {
      retry: { maxAttempts: 1000, baseDelayMs: 1, maxDelayMs: 5 },
      breaker: { threshold: 10_000 },
    });
    const order: string[] = [];
    let failures = 0;
    bus.subscribe({
      name: 'ordered.sub',
      events: ['ord.*'],
      orderedByAggregate: true,
      concurrency: 4,
      handle: async (e) => {
        const n = (e.payload as { n: number }).n;
        // A1 keeps failing until B is through: B must not wait for A, A2 must wait for A1.
        if (e.aggregate.id === 'A' && n === 1 && !order.includes('B3')) {
          failures += 1;
          throw new Error('transient');
        }
        order.push(`${e.aggregate.id}${n}`);
      },
    });
    await bus.start();
    try {
      for (let n = 1; n <= 3; n++) {
        for (const id of ['A', 'B']) {
          await handle.db.transaction((tx) =>
            bus.publish(tx, { type: 'ord.step', aggregate: aggregate(id), payload: { n } }),
          );
        }
      }
      await until(() => order.length === 6, 5000, 'all ordered deliveries');
      assert.deepEqual(
        order.filter((o) => o.startsWith('A')),
        ['A1', 'A2', 'A3'],
      );
      assert.deepEqual(
        order.filter((o) => o.startsWith('B')),
        ['B1', 'B2', 'B3'],
      );
      assert.ok(failures > 0);
      assert.ok(order.indexOf('B3') < order.indexOf('A1'), 'B is not held up by the retry of A');
    } finally {
      await bus.stop();
    }
  });

  test('a crashed worker on this host is seen at once (pid gone) and its leases taken over', async () => {
    const publisher = fastBus(handle.db);
    const event = await handle.db.transaction((tx) =>
      publisher.publish(tx, { type: 'crash.test', aggregate: aggregate('k'), payload: {} }),
    );
    const seen: string[] = [];
    // Heartbeat staleness and lease expiry are far away: only the pid check can explain a takeover.
    const bus = fastBus(handle.db, { sweepIntervalMs: 250, staleAfterMs: 600_000 });
    bus.subscribe({ name: 'crash.sub', events: ['crash.test'], handle: async (e) => void seen.push(e.id) });
    // The subscriber exists from before the event; its delivery was leased by a worker that died:
    // one on this host whose pid is gone, whose heartbeat still looks fresh and lease is long.
    await handle.db.query(
      `INSERT INTO iris_event_subscribers (name, patterns, type_regex, backfill_from)
       VALUES ('crash.sub', '{crash.test}', '^(?:crash\\.test)$', pg_snapshot_xmin(pg_current_snapshot()))`,
    );
    await handle.db.query(
      `INSERT INTO iris_event_workers (id, host, pid, mode) VALUES ('gone', $1, 2147483000, 'worker')`,
      [hostname()],
    );
    await handle.db.query(
      `INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, attempts, owner, lease_until)
       SELECT 'crash.sub', id, seq, 'Patient/k', 'leased', 1, 'gone', now() + interval '1 hour' FROM iris_events WHERE id = $1`,
      [event.id],
    );
    await bus.start('worker');
    try {
      await until(() => seen.length === 1, 10_000, 'takeover');
      await until(async () => (await statuses(handle.db, 'crash.sub')).done === 1, 2000, 'done');
      const { rows } = await handle.db.query<{ stopped: boolean }>(
        `SELECT stopped_at IS NOT NULL AS stopped FROM iris_event_workers WHERE id = 'gone'`,
      );
      assert.equal(rows[0]?.stopped, true);
    } finally {
      await bus.stop();
    }
  });

  test('a worker on another host is dead once its heartbeat is stale', async () => {
    const publisher = fastBus(handle.db);
    const bus = fastBus(handle.db, { staleAfterMs: 2_000 });
    const seen: string[] = [];
    bus.subscribe({ name: 'stale.sub', events: ['stale.test'], handle: async (e) => void seen.push(e.id) });
    await bus.start('worker');
    try {
      await handle.db.query(
        `INSERT INTO iris_event_workers (id, host, pid, mode, heartbeat_at) VALUES ('far', 'elsewhere', 1, 'worker', now())`,
      );
      const event = await handle.db.transaction((tx) =>
        publisher.publish(tx, { type: 'stale.test', aggregate: aggregate('s'), payload: {} }),
      );
      await handle.db.query(
        `INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, attempts, owner, lease_until)
         SELECT 'stale.sub', id, seq, 'Patient/s', 'leased', 1, 'far', now() + interval '1 hour' FROM iris_events WHERE id = $1
         ON CONFLICT (subscriber, event_id) DO UPDATE SET status = 'leased', owner = 'far', lease_until = excluded.lease_until`,
        [event.id],
      );
      await pause(100);
      assert.deepEqual(seen, [], 'not while its heartbeat is fresh');
      await until(() => seen.length === 1, 10_000, 'takeover after staleness');
    } finally {
      await bus.stop();
    }
  });
});
