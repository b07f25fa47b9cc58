import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import type { Database } from '../../../src/platform/db/types.js';
import { testDatabase } from '../../helpers/db.js';
import { aggregate, fastBus, migrateEvents, statuses, until } from './helpers.js';

/** The database, except that the first `failures` completion writes fail (a deadlock, a blip). */
function failingCompletions(db: Database, failures: number): Database {
  let left = failures;
  return new Proxy(db, {
    get(target, key, receiver) {
      if (key === 'query') {
        return (sql: string, params?: readonly unknown[], options?: { name?: string }) => {
          if (options?.name === 'iris_events_done' && left > 0) {
            left -= 1;
            return Promise.reject(new Error('deadlock detected'));
          }
          return target.query(sql, params, options);
        };
      }
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('event bus: completions that fail to be written', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
  });
  after(() => handle.close());

  test('are written again, so the delivery ends done instead of staying leased', async () => {
    const bus = fastBus(failingCompletions(handle.db, 2));
    let runs = 0;
    bus.subscribe({
      name: 'steady.sub',
      events: ['order.placed'],
      handle: async () => {
        runs += 1;
      },
    });
    await bus.start();
    try {
      await handle.db.transaction((tx) =>
        bus.publish(tx, { type: 'order.placed', aggregate: aggregate('o1'), payload: {} }),
      );
      await until(async () => (await statuses(handle.db, 'steady.sub')).done === 1, 5000, 'done');
      assert.equal(runs, 1, 'the handler ran once: the retry wrote the completion, it did not redeliver');
    } finally {
      await bus.stop();
    }
  });
});
