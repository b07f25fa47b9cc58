import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testApp, type TestApp } from '../helpers/app.js';

// Integration only: two API processes share one Redis, so a client cannot double its budget
// by spreading requests across them.
describe('rate limits shared through Redis', () => {
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    assert.ok(process.env.REDIS_URL, 'this suite needs REDIS_URL');
    const env = { RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW: '1m' };
    a = await testApp(env);
    b = await testApp(env);
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  test('the budget is counted across both apps', async () => {
    const ip = `10.77.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 === 0 ? a.app : b.app;
      statuses.push(
        (await app.inject({ method: 'GET', url: '/api/v1/probe', remoteAddress: ip })).statusCode,
      );
    }
    assert.deepEqual(statuses, [404, 404, 404, 404, 429, 429]);
  });
});
