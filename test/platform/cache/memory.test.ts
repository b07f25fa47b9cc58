import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache } from '../../../src/platform/cache/index.js';
import { MemoryCache } from '../../../src/platform/cache/memory.js';
import { cacheContract } from './contract.js';

// lru-cache treats a start time of 0 as "no TTL", so the fake clock starts well after it.
let now = 1_000_000;
cacheContract('memory (fake clock)', async () => new MemoryCache({ now: () => now }), {
  advance: async (ms) => {
    now += ms;
  },
});

cacheContract('memory (real clock)', async () => new MemoryCache());

describe('MemoryCache specifics', () => {
  test('the factory picks memory when no Redis URL is configured', async () => {
    const cache = createCache({ keyPrefix: 'iris:', maxEntries: 5 });
    assert.ok(cache instanceof MemoryCache);
    assert.equal(cache.kind, 'memory');
    await cache.close();
  });

  test('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = new MemoryCache({ maxEntries: 3 });
    await cache.set('a', 1);
    await cache.set('b', 2);
    await cache.set('c', 3);
    await cache.get('a');
    await cache.set('d', 4);
    assert.equal(await cache.get('b'), undefined);
    assert.deepEqual(await Promise.all(['a', 'c', 'd'].map((key) => cache.get(key))), [1, 3, 4]);
  });

  test('close() empties the cache', async () => {
    const cache = new MemoryCache();
    await cache.set('k', 'v');
    await cache.close();
    assert.equal(await cache.get('k'), undefined);
  });
});
