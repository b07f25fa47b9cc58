import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import type { DomainEvent } from '../../../src/platform/events/port.js';
import { testDatabase } from '../../helpers/db.js';
import { aggregate, fastBus, migrateEvents, statuses, until } from './helpers.js';

describe('event bus: outbox and memory-first delivery', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
  });
  after(() => handle.close());

  test('an event commits with the state change and reaches the in-process subscriber at once', async () => {
    const bus = fastBus(handle.db, { sweepIntervalMs: 60_000 });
    const seen: DomainEvent[] = [];
    bus.subscribe({ name: 'mem.first', events: ['patient.created'], handle: async (e) => void seen.push(e) });
    await bus.start();
    try {
      await handle.db.exec('CREATE TABLE probe_patients (id text PRIMARY KEY)');
      const published = await handle.db.transaction(async (tx) => {
        await tx.query('INSERT INTO probe_patients VALUES ($1)', ['p1']);
        const event = await bus.publish(tx, {
          type: 'patient.created',
          aggregate: aggregate('p1'),
          actor: { type: 'user', id: 'u1' },
          correlationId: 'req-1',
          payload: { patientId: 'p1' },
        });
        assert.equal(seen.length, 0, 'nothing is delivered before commit');
        return event;
      });
      await until(() => seen.length === 1, 1000, 'delivery');
      assert.equal(seen[0]!.id, published.id);
      assert.match(published.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      assert.deepEqual(seen[0]!.actor, { type: 'user', id: 'u1' });
      assert.equal(seen[0]!.schemaVersion, 1);
      await until(async () => (await statuses(handle.db, 'mem.first')).done === 1, 2000, 'done row');
    } finally {
      await bus.stop();
    }
  });

  test('a rolled-back transaction publishes nothing', async () => {
    const bus = fastBus(handle.db);
    const seen: string[] = [];
    bus.subscribe({ name: 'rollback.probe', events: ['**'], handle: async (e) => void seen.push(e.id) });
    await bus.start();
    try {
      await assert.rejects(
        handle.db.transaction(async (tx) => {
          await bus.publish(tx, { type: 'x.rolled', aggregate: aggregate('r'), payload: {} });
          throw new Error('abort');
        }),
        /abort/,
      );
      await bus.sweep();
      const { rows } = await handle.db.query(`SELECT 1 FROM iris_events WHERE type = 'x.rolled'`);
      assert.equal(rows.length, 0);
      assert.deepEqual(seen, []);
    } finally {
      await bus.stop();
    }
  });

  test('events published by a process without subscribers are delivered by the sweeper', async () => {
    const worker = fastBus(handle.db);
    const seen: string[] = [];
    worker.subscribe({
      name: 'remote.sub',
      events: ['visit.*'],
      handle: async (e) => void seen.push(e.type),
    });
    await worker.start('worker');
    const publisher = fastBus(handle.db);
    try {
      await handle.db.transaction(async (tx) => {
        await publisher.publish(tx, { type: 'visit.opened', aggregate: aggregate('v1'), payload: {} });
        await publisher.publish(tx, { type: 'visit.detail.x', aggregate: aggregate('v1'), payload: {} });
        await publisher.publish(tx, { type: 'other.thing', aggregate: aggregate('v1'), payload: {} });
      });
      await until(() => seen.length === 1, 3000, 'sweeper delivery');
      await settle();
      assert.deepEqual(seen, ['visit.opened']);
    } finally {
      await worker.stop();
    }
  });

  test('invalid events are refused before they reach the outbox', async () => {
    const bus = fastBus(handle.db, { maxPayloadBytes: 64 });
    await handle.db.transaction(async (tx) => {
      await assert.rejects(
        bus.publish(tx, { type: 'bad type', aggregate: aggregate('a'), payload: {} }),
        /invalid/,
      );
      await assert.rejects(
        bus.publish(tx, { type: 'x.y', aggregate: { type: '', id: '' }, payload: {} }),
        /aggregate/,
      );
      await assert.rejects(
        bus.publish(tx, { type: 'x.big', aggregate: aggregate('a'), payload: { text: 'x'.repeat(100) } }),
        /references/,
      );
    });
  });

  test('a follow-up event published by a handler carries causation and correlation', async () => {
    const bus = fastBus(handle.db);
    const seen: DomainEvent[] = [];
    bus.subscribe({
      name: 'chain.first',
      events: ['chain.start'],
      handle: async (event, ctx) => {
        await handle.db.transaction((tx) =>
          ctx.publish(tx, { type: 'chain.next', aggregate: event.aggregate, payload: {} }),
        );
      },
    });
    bus.subscribe({ name: 'chain.second', events: ['chain.next'], handle: async (e) => void seen.push(e) });
    await bus.start();
    try {
      const first = await handle.db.transaction((tx) =>
        bus.publish(tx, {
          type: 'chain.start',
          aggregate: aggregate('c'),
          correlationId: 'corr-9',
          payload: {},
        }),
      );
      await until(() => seen.length === 1, 2000, 'follow-up');
      assert.equal(seen[0]!.causationId, first.id);
      assert.equal(seen[0]!.correlationId, 'corr-9');
    } finally {
      await bus.stop();
    }
  });
});

function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 100));
}
