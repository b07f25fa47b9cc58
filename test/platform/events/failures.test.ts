import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import { testDatabase } from '../../helpers/db.js';
import { aggregate, fastBus, migrateEvents, statuses, until } from './helpers.js';

describe('event bus: failures, dead letters, circuit breaker', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
  });
  after(() => handle.close());

  test('a failing handler is retried with backoff, then dead-lettered; the DLQ can retry and discard it', async () => {
    const bus = fastBus(handle.db, { breaker: { threshold: 100 } });
    const attempts: number[] = [];
    let healthy = false;
    bus.subscribe({
      name: 'flaky.sub',
      events: ['order.placed'],
      retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      handle: async (_event, ctx) => {
        attempts.push(ctx.attempt);
        if (!healthy) throw new Error('registry unreachable');
      },
    });
    await bus.start();
    try {
      const event = await handle.db.transaction((tx) =>
        bus.publish(tx, { type: 'order.placed', aggregate: aggregate('o1'), payload: {} }),
      );
      await until(async () => (await statuses(handle.db, 'flaky.sub')).dead === 1, 5000, 'dead letter');
      assert.deepEqual(attempts, [1, 2, 3]);

      const [letter] = await bus.deadLetters.list({ subscriber: 'flaky.sub', limit: 10 });
      assert.ok(letter);
      assert.equal(letter.event.id, event.id);
      assert.equal(letter.attempts, 3);
      assert.match(letter.lastError ?? '', /registry unreachable/);
      assert.deepEqual((await bus.deadLetters.get(letter.id))?.event.type, 'order.placed');

      healthy = true;
      assert.equal(await bus.deadLetters.retry(letter.id), true);
      await until(async () => (await statuses(handle.db, 'flaky.sub')).done === 1, 5000, 'retried delivery');
      assert.deepEqual(attempts, [1, 2, 3, 1]);
      assert.equal(await bus.deadLetters.retry(letter.id), false, 'no longer a dead letter');
      assert.equal(await bus.deadLetters.get(letter.id), null);

      healthy = false;
      await handle.db.transaction((tx) =>
        bus.publish(tx, { type: 'order.placed', aggregate: aggregate('o2'), payload: {} }),
      );
      await until(
        async () => (await statuses(handle.db, 'flaky.sub')).dead === 1,
        5000,
        'second dead letter',
      );
      const [second] = await bus.deadLetters.list({ subscriber: 'flaky.sub', limit: 10 });
      assert.equal(await bus.deadLetters.discard(second!.id), true);
      assert.equal((await statuses(handle.db, 'flaky.sub')).discarded, 1);
      assert.deepEqual(await bus.deadLetters.list({ subscriber: 'flaky.sub', limit: 10 }), []);
    } finally {
      await bus.stop();
    }
  });

  test('the breaker opens after consecutive failures, pauses only that subscriber, and recovers via a probe', async () => {
    const bus = fastBus(handle.db, {
      breaker: { threshold: 2, cooldownMs: 1_000 },
      retry: { maxAttempts: 50, baseDelayMs: 1, maxDelayMs: 2 },
    });
    let down = true;
    let calls = 0;
    const healthyCalls: string[] = [];
    bus.subscribe({
      name: 'breaker.sub',
      events: ['lab.*'],
      handle: async () => {
        calls += 1;
        if (down) throw new Error('downstream 503');
      },
    });
    bus.subscribe({
      name: 'breaker.other',
      events: ['lab.*'],
      handle: async (e) => void healthyCalls.push(e.id),
    });
    await bus.start();
    try {
      for (let i = 0; i < 3; i++) {
        await handle.db.transaction((tx) =>
          bus.publish(tx, { type: 'lab.result', aggregate: aggregate(`l${i}`), payload: {} }),
        );
      }
      await until(
        () => bus.subscribers().find((s) => s.name === 'breaker.sub')?.breaker === 'open',
        3000,
        'open',
      );
      const callsWhenOpen = calls;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(calls, callsWhenOpen, 'no deliveries while open');
      await until(() => healthyCalls.length === 3, 2000, 'the other subscriber keeps going');

      // Half-open probe fails: open again.
      await until(() => calls > callsWhenOpen, 2000, 'probe');
      assert.equal(calls, callsWhenOpen + 1, 'exactly one probe');
      assert.equal(bus.subscribers().find((s) => s.name === 'breaker.sub')?.breaker, 'open');

      down = false;
      await until(async () => (await statuses(handle.db, 'breaker.sub')).done === 3, 5000, 'recovery');
      assert.equal(bus.subscribers().find((s) => s.name === 'breaker.sub')?.breaker, 'closed');
    } finally {
      await bus.stop();
    }
  });

  test('a delivery whose workers keep dying is dead-lettered instead of looping', async () => {
    const bus = fastBus(handle.db, { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    const seen: string[] = [];
    bus.subscribe({ name: 'poison.sub', events: ['poison.pill'], handle: async (e) => void seen.push(e.id) });
    await bus.start();
    const event = await handle.db.transaction((tx) =>
      bus.publish(tx, { type: 'poison.pill', aggregate: aggregate('x'), payload: {} }),
    );
    await until(async () => (await statuses(handle.db, 'poison.sub')).done === 1, 3000, 'first delivery');
    await bus.stop();
    // As if two workers had died holding it: attempts used up, lease gone.
    await handle.db.query(
      `UPDATE iris_event_deliveries SET status = 'pending', attempts = 2 WHERE subscriber = 'poison.sub'`,
    );
    const again = fastBus(handle.db, { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    again.subscribe({
      name: 'poison.sub',
      events: ['poison.pill'],
      handle: async (e) => void seen.push(e.id),
    });
    await again.start();
    try {
      await until(async () => (await statuses(handle.db, 'poison.sub')).dead === 1, 3000, 'dead letter');
      assert.deepEqual(
        seen.filter((id) => id === event.id),
        [event.id],
        'delivered once before, never after attempts ran out',
      );
    } finally {
      await again.stop();
    }
  });
});
