import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LocalSessionCache } from '../../../src/modules/auth/session-cache.js';
import { MemoryCache } from '../../../src/platform/cache/memory.js';
import { createLogger } from '../../../src/platform/observability/logger.js';

const logger = createLogger('silent');
const subscribed = () => new Promise((resolve) => setImmediate(resolve));

/** Two layers on one cache stand for two processes on one Redis (MemoryCache: one process). */
async function pair(ttlSeconds = 60) {
  const shared = new MemoryCache();
  const one = new LocalSessionCache<{ v: number }>(shared, 'ns', ttlSeconds, logger);
  const two = new LocalSessionCache<{ v: number }>(shared, 'ns', ttlSeconds, logger);
  await subscribed();
  return { one, two };
}

describe('in-process session layer', () => {
  test('keeps a loaded entry; a drop anywhere on the channel removes it everywhere', async () => {
    const { one, two } = await pair();
    let loads = 0;
    const load = async () => ({ v: ++loads });
    assert.deepEqual(await one.get('s1', load), { v: 1 });
    assert.deepEqual(await one.get('s1', load), { v: 1 });
    assert.deepEqual(await two.get('s1', load), { v: 2 });
    await one.invalidate(['s1']);
    assert.deepEqual(await one.get('s1', load), { v: 3 });
    assert.deepEqual(await two.get('s1', load), { v: 4 });
  });

  test('a load that overlapped a drop is returned but not kept', async () => {
    const { one, two } = await pair();
    let release!: () => void;
    const slow = one.get('s1', async () => {
      await new Promise<void>((resolve) => (release = resolve));
      return { v: 1 };
    });
    await two.invalidate(['s1']);
    release();
    assert.deepEqual(await slow, { v: 1 });
    assert.deepEqual(await one.get('s1', async () => ({ v: 2 })), { v: 2 });
  });

  test('nothing is kept for a missing session, nor when the layer is off (0 s)', async () => {
    const { one } = await pair();
    assert.equal(await one.get('gone', async () => null), null);
    assert.deepEqual(await one.get('gone', async () => ({ v: 1 })), { v: 1 });
    const { one: off } = await pair(0);
    let loads = 0;
    await off.get('s1', async () => ({ v: ++loads }));
    await off.get('s1', async () => ({ v: ++loads }));
    assert.equal(loads, 2);
  });

  test('entries expire after the layer TTL', async () => {
    const { one } = await pair(0.05);
    let loads = 0;
    const load = async () => ({ v: ++loads });
    await one.get('s1', load);
    await one.get('s1', load);
    assert.equal(loads, 1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await one.get('s1', load);
    assert.equal(loads, 2);
  });
});
