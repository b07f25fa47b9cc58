import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createCache } from '../../src/platform/cache/index.js';
import { CacheUnavailableError } from '../../src/platform/cache/port.js';
import { RedisCache } from '../../src/platform/cache/redis.js';
import { cacheContract } from '../platform/cache/contract.js';

// The integration suite always provides a Redis server; without one this must fail, not skip.
const redisUrl = process.env.REDIS_URL;
if (!redisUrl)
  throw new Error(
    'cache.server.test.ts needs REDIS_URL (a Redis server); run it via npm run test:integration',
  );
const url: string = redisUrl;

// A namespace per run, so concurrent runs sharing the server cannot see each other's keys.
const keyPrefix = `iris-test:${randomUUID()}:`;
let raw: Redis;

before(async () => {
  raw = new Redis(url);
});

after(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
    if (keys.length > 0) await raw.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await raw.quit();
});

cacheContract('redis', async () => new RedisCache({ url, keyPrefix }));

describe('RedisCache specifics', () => {
  test('the factory picks Redis when a URL is configured', async () => {
    const cache = createCache({ redisUrl: url, keyPrefix });
    assert.ok(cache instanceof RedisCache);
    assert.equal(cache.kind, 'redis');
    await cache.check();
    await cache.close();
  });

  test('keys live under the prefix, values as JSON text, counters with their TTL', async () => {
    const cache = new RedisCache({ url, keyPrefix });
    await cache.set('ns:value', { a: 1 });
    assert.equal(await raw.get(`${keyPrefix}ns:value`), '{"a":1}');
    assert.equal(await raw.get('ns:value'), null);

    await cache.incr('ns:counter', 30);
    const ttl = await raw.pttl(`${keyPrefix}ns:counter`);
    assert.ok(ttl > 29_000 && ttl <= 30_000, `pttl ${ttl}`);
    await cache.incr('ns:counter', 300);
    assert.ok(
      (await raw.pttl(`${keyPrefix}ns:counter`)) <= 30_000,
      'a later incr must not extend the window',
    );
    await cache.close();
  });

  test('check() reports an unreachable server as CacheUnavailableError', async () => {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const cache = new RedisCache({ url: 'redis://127.0.0.1:1', keyPrefix });
    await assert.rejects(cache.check(), (err: unknown) => {
      assert.ok(err instanceof CacheUnavailableError);
      assert.equal(err.code, 'IRIS_CACHE_UNAVAILABLE');
      return true;
    });
    await cache.close();
  });
});
