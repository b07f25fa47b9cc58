import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheValueError } from '../../../src/platform/cache/port.js';
import type { Cache } from '../../../src/platform/cache/port.js';

export interface CacheContractOptions {
  /**
   * Moves the cache's clock forward. Defaults to really waiting; an adapter with an injectable
   * clock can make the TTL tests instant.
   */
  advance?: (ms: number) => Promise<void>;
}

/** The behaviour every Cache adapter must share. `makeCache` is called once; the cache is closed at the end. */
export function cacheContract(
  name: string,
  makeCache: () => Promise<Cache>,
  options: CacheContractOptions = {},
): void {
  const advance = options.advance ?? ((ms: number) => sleep(ms));

  describe(`Cache contract: ${name}`, () => {
    let cache: Cache;

    before(async () => {
      cache = await makeCache();
    });

    after(async () => {
      await cache?.close();
    });

    test('check() passes', async () => {
      await cache.check();
    });

    test('get of a missing key is undefined', async () => {
      assert.equal(await cache.get('missing'), undefined);
    });

    test('set, get, overwrite and delete', async () => {
      await cache.set('basic', 'one');
      assert.equal(await cache.get<string>('basic'), 'one');
      await cache.set('basic', 'two');
      assert.equal(await cache.get<string>('basic'), 'two');
      await cache.delete('basic');
      assert.equal(await cache.get('basic'), undefined);
      await cache.delete('basic');
      await cache.delete('never-set');
    });

    test('values are JSON round-tripped copies', async () => {
      const values: Record<string, unknown> = {
        string: 'héllo "quoted" ✓',
        integer: 42,
        float: 3.25,
        negative: -7,
        boolean: false,
        null: null,
        array: [1, 'two', { three: 3 }],
        object: { nested: { deep: [true, null] }, count: 0 },
      };
      for (const [key, value] of Object.entries(values)) await cache.set(`json:${key}`, value);
      for (const [key, value] of Object.entries(values))
        assert.deepEqual(await cache.get(`json:${key}`), value);

      await cache.set('json:lossy', { at: new Date('2024-05-01T12:00:00Z'), gone: undefined });
      assert.deepEqual(await cache.get('json:lossy'), { at: '2024-05-01T12:00:00.000Z' });

      const copy = await cache.get<{ count: number }>('json:object');
      assert.ok(copy);
      copy.count = 99;
      assert.equal((await cache.get<{ count: number }>('json:object'))?.count, 0);
    });

    test('rejects values JSON cannot carry and TTLs that are not positive', async () => {
      await assert.rejects(cache.set('bad', undefined), TypeError);
      await assert.rejects(
        cache.set('bad', () => 1),
        TypeError,
      );
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(cache.set('bad', 1, ttl), RangeError);
        await assert.rejects(cache.incr('bad', ttl), RangeError);
      }
      assert.equal(await cache.get('bad'), undefined);
    });

    test('entries expire after their TTL', async () => {
      await cache.set('ttl:short', { v: 1 }, 1);
      await cache.set('ttl:none', { v: 2 });
      assert.deepEqual(await cache.get('ttl:short'), { v: 1 });
      await advance(1200);
      assert.equal(await cache.get('ttl:short'), undefined);
      assert.deepEqual(await cache.get('ttl:none'), { v: 2 });
    });

    test('set without a TTL removes an earlier TTL', async () => {
      await cache.set('ttl:cleared', 'first', 1);
      await cache.set('ttl:cleared', 'second');
      await advance(1200);
      assert.equal(await cache.get('ttl:cleared'), 'second');
    });

    test('incr counts from 1 and works on integers set before', async () => {
      assert.equal(await cache.incr('counter:a'), 1);
      assert.equal(await cache.incr('counter:a'), 2);
      assert.equal(await cache.get('counter:a'), 2);
      await cache.set('counter:b', 41);
      assert.equal(await cache.incr('counter:b'), 42);
    });

    test('incr is atomic under 100 concurrent increments', async () => {
      const results = await Promise.all(
        Array.from({ length: 100 }, () => cache.incr('counter:concurrent', 60)),
      );
      assert.deepEqual(
        [...results].sort((a, b) => a - b),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      assert.equal(await cache.get('counter:concurrent'), 100);
    });

    test('incr sets the TTL on the first increment and never extends it (fixed window)', async () => {
      assert.equal(await cache.incr('counter:window', 1), 1);
      await advance(600);
      assert.equal(await cache.incr('counter:window', 1), 2);
      await advance(600);
      assert.equal(await cache.get('counter:window'), undefined);
      assert.equal(await cache.incr('counter:window', 1), 1);
    });

    test('incr of a non-integer throws CacheValueError', async () => {
      await cache.set('counter:text', 'abc');
      await assert.rejects(cache.incr('counter:text'), (err: unknown) => {
        assert.ok(err instanceof CacheValueError);
        assert.equal(err.code, 'IRIS_CACHE_BAD_VALUE');
        return true;
      });
      assert.equal(await cache.get('counter:text'), 'abc');
    });

    test('getOrSet calls the loader once for concurrent callers, then serves the cache', async () => {
      let calls = 0;
      const loader = async () => {
        calls++;
        await sleep(50);
        return { answer: 42, at: new Date('2024-01-01T00:00:00Z') };
      };
      const results = await Promise.all(
        Array.from({ length: 50 }, () => cache.getOrSet('memo:a', 60, loader)),
      );
      assert.equal(calls, 1);
      // Every caller, the first included, sees the JSON form a later hit returns.
      for (const result of results) assert.deepEqual(result, { answer: 42, at: '2024-01-01T00:00:00.000Z' });
      assert.deepEqual(await cache.getOrSet('memo:a', 60, loader), results[0]);
      assert.equal(calls, 1);
    });

    test('getOrSet reloads after expiry', async () => {
      let calls = 0;
      const loader = async () => ++calls;
      assert.equal(await cache.getOrSet('memo:ttl', 1, loader), 1);
      assert.equal(await cache.getOrSet('memo:ttl', 1, loader), 1);
      await advance(1200);
      assert.equal(await cache.getOrSet('memo:ttl', 1, loader), 2);
    });

    test('getOrSet shares a loader failure, caches nothing, and retries next time', async () => {
      let calls = 0;
      const failing = async (): Promise<number> => {
        calls++;
        await sleep(20);
        throw new Error('backend down');
      };
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, () => cache.getOrSet('memo:fail', 60, failing)),
      );
      assert.ok(outcomes.every((o) => o.status === 'rejected' && /backend down/.test(String(o.reason))));
      assert.equal(calls, 1);
      assert.equal(await cache.get('memo:fail'), undefined);
      assert.equal(await cache.getOrSet('memo:fail', 60, async () => 7), 7);
    });

    test('getOrSet does not cache an undefined result', async () => {
      let calls = 0;
      const loader = async () => {
        calls++;
        return undefined;
      };
      assert.equal(await cache.getOrSet('memo:undefined', 60, loader), undefined);
      assert.equal(await cache.getOrSet('memo:undefined', 60, loader), undefined);
      assert.equal(calls, 2);
    });
  });
}
