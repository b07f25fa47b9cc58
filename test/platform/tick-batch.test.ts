import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TickBatch } from '../../src/platform/tick-batch.js';

describe('TickBatch', () => {
  test('items added in one turn are processed by one call; a later turn gets its own', async () => {
    const calls: number[][] = [];
    const batch = new TickBatch<number>(async (items) => {
      calls.push(items);
    });
    await Promise.all([batch.add(1), batch.add(2), batch.add(3)]);
    await batch.add(4);
    assert.deepEqual(calls, [[1, 2, 3], [4]]);
  });

  test('a failing batch is retried item by item: only the bad item fails', async () => {
    const calls: number[][] = [];
    const batch = new TickBatch<number>(async (items) => {
      calls.push(items);
      if (items.includes(2)) throw new Error('bad item 2');
    });
    const results = await Promise.allSettled([batch.add(1), batch.add(2), batch.add(3)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /bad item 2/);
    assert.deepEqual(calls, [[1, 2, 3], [1], [2], [3]]);
  });

  test('a lone item that fails is not processed twice', async () => {
    let calls = 0;
    const batch = new TickBatch<number>(async () => {
      calls += 1;
      throw new Error('down');
    });
    await assert.rejects(batch.add(1), /down/);
    assert.equal(calls, 1);
  });
});
