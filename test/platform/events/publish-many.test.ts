import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import { EventValidationError } from '../../../src/platform/events/index.js';
import type { DomainEvent, SubscriberDefinition } from '../../../src/platform/events/port.js';
import { testDatabase } from '../../helpers/db.js';
import { aggregate, fastBus, migrateEvents, statuses, until } from './helpers.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event bus: publishMany', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
  });
  after(() => handle.close());

  /** Ids of the stored events among `ids`, in sequence order. */
  const storedInSeqOrder = async (ids: string[]): Promise<string[]> =>
    (
      await handle.db.query<{ id: string }>(
        'SELECT id::text AS id FROM iris_events WHERE id = ANY($1::uuid[]) ORDER BY seq',
        [ids],
      )
    ).rows.map((r) => r.id);

  const deliveryCount = async (ids: string[]): Promise<number> =>
    (
      await handle.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM iris_event_deliveries WHERE event_id = ANY($1::uuid[])',
        [ids],
      )
    ).rows[0]!.n;

  const recorder = (name: string, events: string[], seen: DomainEvent[]): SubscriberDefinition => ({
    name,
    events,
    handle: async (e) => void seen.push(e),
  });

  test('a batch reaches the matching subscribers once each, after commit, in sequence order', async () => {
    const bus = fastBus(handle.db, { sweepIntervalMs: 60_000 });
    const patients: DomainEvent[] = [];
    const visits: DomainEvent[] = [];
    bus.subscribe(recorder('many.patients', ['many.patient.created'], patients));
    bus.subscribe(recorder('many.visits', ['many.visit.*'], visits));
    await bus.start();
    try {
      const published = await handle.db.transaction(async (tx) => {
        const events = await bus.publishMany(tx, [
          { type: 'many.patient.created', aggregate: aggregate('p1'), payload: { patientId: 'p1' } },
          {
            type: 'many.visit.opened',
            aggregate: { type: 'Encounter', id: 'v1' },
            actor: { type: 'user', id: 'u1' },
            payload: { visitId: 'v1' },
          },
          { type: 'many.patient.created', aggregate: aggregate('p2'), payload: { patientId: 'p2' } },
        ]);
        await pause(30);
        assert.equal(patients.length + visits.length, 0, 'nothing is delivered before commit');
        return events;
      });
      assert.deepEqual(
        published.map((e) => e.type),
        ['many.patient.created', 'many.visit.opened', 'many.patient.created'],
      );
      const ids = published.map((e) => e.id);
      assert.deepEqual(await storedInSeqOrder(ids), ids, 'seq follows the array order');
      assert.equal(await deliveryCount(ids), 3, 'local delivery rows are written with the events');

      await until(() => patients.length === 2 && visits.length === 1, 2000, 'deliveries');
      await until(
        async () =>
          (await statuses(handle.db, 'many.patients')).done === 2 &&
          (await statuses(handle.db, 'many.visits')).done === 1,
        2000,
        'done rows',
      );
      await bus.sweep();
      await pause(50);
      assert.deepEqual(patients.map((e) => e.id).sort(), [ids[0], ids[2]].sort(), 'each once');
      assert.deepEqual(
        visits.map((e) => e.id),
        [ids[1]],
      );
      const byId = new Map(patients.map((e) => [e.id, e]));
      assert.deepEqual(byId.get(ids[0]!)!.payload, { patientId: 'p1' });
      assert.deepEqual(byId.get(ids[0]!)!.aggregate, { type: 'Patient', id: 'p1' });
      assert.deepEqual(byId.get(ids[2]!)!.payload, { patientId: 'p2' });
      assert.deepEqual(byId.get(ids[2]!)!.aggregate, { type: 'Patient', id: 'p2' });
      assert.deepEqual(visits[0]!.payload, { visitId: 'v1' });
      assert.deepEqual(visits[0]!.aggregate, { type: 'Encounter', id: 'v1' });
      assert.deepEqual(visits[0]!.actor, { type: 'user', id: 'u1' });
    } finally {
      await bus.stop();
    }
  });

  test('a rolled-back transaction stores and delivers nothing', async () => {
    const bus = fastBus(handle.db);
    const seen: DomainEvent[] = [];
    bus.subscribe(recorder('many.rollback', ['many.rolled.*'], seen));
    await bus.start();
    try {
      const ids = [randomUUID(), randomUUID()];
      await assert.rejects(
        handle.db.transaction(async (tx) => {
          await bus.publishMany(
            tx,
            ids.map((id, n) => ({
              id,
              type: 'many.rolled.back',
              aggregate: aggregate(`r${n}`),
              payload: {},
            })),
          );
          throw new Error('abort');
        }),
        /abort/,
      );
      await bus.sweep();
      await pause(50);
      assert.deepEqual(await storedInSeqOrder(ids), []);
      assert.equal(await deliveryCount(ids), 0);
      assert.deepEqual(seen, []);
    } finally {
      await bus.stop();
    }
  });

  test('republished ids store and deliver nothing new; new ids in the same batch still go through', async () => {
    const bus = fastBus(handle.db);
    const seen: DomainEvent[] = [];
    bus.subscribe(recorder('many.dedup', ['many.dedup.*'], seen));
    await bus.start();
    try {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const batch = (ids: string[], round: number) =>
        handle.db.transaction((tx) =>
          bus.publishMany(
            tx,
            ids.map((id) => ({ id, type: 'many.dedup.once', aggregate: aggregate(id), payload: { round } })),
          ),
        );
      await batch([a!, b!], 1);
      await until(() => seen.length === 2, 2000, 'first deliveries');

      await batch([a!, b!], 2);
      await batch([b!, c!, a!], 3);
      await until(() => seen.length >= 3, 2000, 'the new id');
      for (let i = 0; i < 3; i++) await bus.sweep();
      await pause(100);

      assert.deepEqual(
        seen.map((e) => `${e.id}:${(e.payload as { round: number }).round}`).sort(),
        [`${a}:1`, `${b}:1`, `${c}:3`].sort(),
      );
      assert.deepEqual(await storedInSeqOrder([a!, b!, c!]), [a, b, c]);
      const { rows } = await handle.db.query<{ id: string; round: number }>(
        `SELECT id::text AS id, (payload->>'round')::int AS round FROM iris_events WHERE id = ANY($1::uuid[])`,
        [[a, b]],
      );
      assert.deepEqual(
        rows.map((r) => r.round),
        [1, 1],
        'the first publish wins',
      );
      assert.equal(await deliveryCount([a!, b!, c!]), 3);
    } finally {
      await bus.stop();
    }
  });

  test('an invalid event rejects the whole call before anything is written', async () => {
    const bus = fastBus(handle.db);
    const seen: DomainEvent[] = [];
    bus.subscribe(recorder('many.invalid', ['**'], seen));
    await bus.start();
    try {
      const valid = [randomUUID(), randomUUID()];
      await handle.db.transaction(async (tx) => {
        await assert.rejects(
          bus.publishMany(tx, [
            { id: valid[0], type: 'many.valid.first', aggregate: aggregate('i1'), payload: {} },
            { type: 'Bad Type!', aggregate: aggregate('i2'), payload: {} },
            { id: valid[1], type: 'many.valid.last', aggregate: aggregate('i3'), payload: {} },
          ]),
          (error: unknown) => error instanceof EventValidationError && /Bad Type!/.test(error.message),
        );
        await assert.rejects(
          bus.publishMany(tx, [
            { id: valid[0], type: 'many.valid.first', aggregate: aggregate('i1'), payload: {} },
            { id: 'not-a-uuid', type: 'many.valid.x', aggregate: aggregate('i4'), payload: {} },
          ]),
          EventValidationError,
        );
      });
      await bus.sweep();
      await pause(50);
      assert.deepEqual(await storedInSeqOrder(valid), []);
      const bad = await handle.db.query(`SELECT 1 FROM iris_events WHERE type = 'Bad Type!'`);
      assert.equal(bad.rows.length, 0);
      assert.deepEqual(seen, []);
    } finally {
      await bus.stop();
    }
  });

  test('without start, events are stored without local deliveries, like publish, and the sweeper delivers them', async () => {
    const seen: DomainEvent[] = [];
    const definition = recorder('many.idle', ['many.idle.*'], seen);
    // Registers the subscriber in the database, as an earlier run of the process would have.
    const earlier = fastBus(handle.db);
    earlier.subscribe(definition);
    await earlier.start();
    await earlier.stop();

    const bus = fastBus(handle.db);
    bus.subscribe(definition);
    const single = await handle.db.transaction((tx) =>
      bus.publish(tx, { type: 'many.idle.single', aggregate: aggregate('s'), payload: {} }),
    );
    const many = await handle.db.transaction((tx) =>
      bus.publishMany(tx, [
        { type: 'many.idle.one', aggregate: aggregate('a'), payload: { n: 1 } },
        { type: 'many.idle.two', aggregate: aggregate('b'), payload: { n: 2 } },
      ]),
    );
    const manyIds = many.map((e) => e.id);
    await pause(50);
    assert.deepEqual(await storedInSeqOrder(manyIds), manyIds);
    assert.equal(await deliveryCount([single.id]), 0, 'publish leaves delivery to the sweeper');
    assert.equal(await deliveryCount(manyIds), 0, 'publishMany does the same');
    assert.equal(seen.length, 0);

    await bus.start();
    try {
      await until(() => seen.length === 3, 3000, 'sweeper delivery');
      await until(async () => (await statuses(handle.db, 'many.idle')).done === 3, 2000, 'done rows');
      await pause(50);
      assert.deepEqual(seen.map((e) => e.id).sort(), [single.id, ...manyIds].sort());
    } finally {
      await bus.stop();
    }
  });
});
