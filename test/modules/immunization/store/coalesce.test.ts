import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Coalescer } from '../../../../src/modules/immunization/store/coalesce.js';

/** A run that stays open until released, recording when runs overlap. */
function gate() {
  let open = 0;
  let overlapped = false;
  const releases: Array<() => void> = [];
  const started: number[] = [];
  let n = 0;
  const fn = () => {
    const id = ++n;
    started.push(id);
    open += 1;
    if (open > 1) overlapped = true;
    return new Promise<void>((resolve) => {
      releases.push(() => {
        open -= 1;
        resolve();
      });
    });
  };
  const releaseNext = async () => {
    while (releases.length === 0) await new Promise((r) => setImmediate(r));
    (releases.shift() as () => void)();
  };
  return { fn, started, releaseNext, overlapped: () => overlapped };
}

describe('per-key coalescing of recomputations', () => {
  test('callers of one turn share one run', async () => {
    const c = new Coalescer();
    const g = gate();
    const calls = [c.run('p1', g.fn), c.run('p1', g.fn), c.run('p1', g.fn)];
    await g.releaseNext();
    await Promise.all(calls);
    assert.deepEqual(g.started, [1]);
    assert.equal(c.size, 0);
  });

  test('a caller arriving during a run gets a later run, shared with the others arriving then', async () => {
    const c = new Coalescer();
    const g = gate();
    let firstDone = false;
    const first = c.run('p1', g.fn).then(() => {
      firstDone = true;
    });
    while (g.started.length === 0) await new Promise((r) => setImmediate(r));
    const later = [c.run('p1', g.fn), c.run('p1', g.fn)];
    await g.releaseNext();
    await first;
    assert.equal(firstDone, true);
    assert.equal(g.started.length, 1, 'the first caller was answered by the first run alone');
    await g.releaseNext();
    await Promise.all(later);
    assert.equal(g.started.length, 2, 'the two later callers shared it');
    assert.equal(g.overlapped(), false, 'runs of one key never overlap');
  });

  test('different keys run side by side', async () => {
    const c = new Coalescer();
    const g = gate();
    const both = [c.run('p1', g.fn), c.run('p2', g.fn)];
    while (g.started.length < 2) await new Promise((r) => setImmediate(r));
    assert.equal(g.overlapped(), true);
    await g.releaseNext();
    await g.releaseNext();
    await Promise.all(both);
  });

  test('a failure reaches every caller of that run, and the next call runs again', async () => {
    const c = new Coalescer();
    let runs = 0;
    const failing = async () => {
      runs += 1;
      throw new Error('database went away');
    };
    const results = await Promise.allSettled([c.run('p1', failing), c.run('p1', failing)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(runs, 1);
    await c.run('p1', async () => {
      runs += 1;
    });
    assert.equal(runs, 2);
    assert.equal(c.size, 0);
  });

  test('at most maxRunning runs at once; a run waiting for its turn still takes new callers', async () => {
    const c = new Coalescer(2);
    const g = gate();
    const first = [c.run('p1', g.fn), c.run('p2', g.fn)];
    while (g.started.length < 2) await new Promise((r) => setImmediate(r));
    const third = c.run('p3', g.fn);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(g.started.length, 2, 'the third key waits for a slot');
    // Callers arriving while p3 waits are answered by that run: it has not read anything yet.
    const joined = [c.run('p3', g.fn), c.run('p3', g.fn)];
    await g.releaseNext();
    await first[0];
    while (g.started.length < 3) await new Promise((r) => setImmediate(r));
    await g.releaseNext();
    await g.releaseNext();
    await Promise.all([...first, third, ...joined]);
    assert.equal(g.started.length, 3, 'p3 ran once for its three callers');
    assert.equal(c.size, 0);
  });

  test('a failing run gives its slot back', async () => {
    const c = new Coalescer(1);
    await assert.rejects(
      c.run('p1', async () => {
        throw new Error('boom');
      }),
    );
    let ran = false;
    await c.run('p2', async () => {
      ran = true;
    });
    assert.equal(ran, true);
  });
});
