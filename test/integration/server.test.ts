import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';

// The assembled app on whatever this suite runs against: PGlite and in-process cache in
// `npm test`, a PostgreSQL server and Redis in `npm run test:integration`.
describe(`assembled app (${process.env.DATABASE_URL ? 'PostgreSQL + Redis' : 'PGlite + memory'})`, () => {
  let t: TestApp;
  before(async () => {
    t = await testApp();
  });
  after(() => t.close());

  test('readiness checks the configured backends', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(res.statusCode, 200, res.body);
    const { checks } = res.json();
    assert.equal(checks.database.detail, process.env.DATABASE_URL ? 'postgres' : 'pglite');
    assert.equal(checks.redis?.status, process.env.REDIS_URL ? 'up' : undefined);
  });

  test('the cache round-trips through the configured adapter', async () => {
    const key = `probe:${Date.now()}`;
    await t.runtime.ctx.cache.set(key, { n: 1 }, 30);
    assert.deepEqual(await t.runtime.ctx.cache.get(key), { n: 1 });
    await t.runtime.ctx.cache.delete(key);
    assert.equal(await t.runtime.ctx.cache.get(key), undefined);
  });

  test('object storage answers through the configured adapter', async () => {
    const put = await t.runtime.ctx.storage.put('probe/hello.txt', Buffer.from('hello'), {
      contentType: 'text/plain',
    });
    assert.equal(put.size, 5);
    const head = await t.runtime.ctx.storage.head('probe/hello.txt');
    assert.equal(head?.sha256, put.sha256);
  });
});
