import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransportError } from '../../../../src/modules/registry/transport/errors.js';
import { RegistryPolicy } from '../../../../src/modules/registry/transport/resilience.js';
import type { PolicyConfig } from '../../../../src/modules/registry/transport/resilience.js';

function policyConfig(overrides: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    name: 'Test IIS',
    timeoutMs: 1000,
    rateLimitPerSecond: 0,
    maxConcurrent: 4,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 20 },
    breaker: { consecutiveFailures: 5, halfOpenAfterMs: 1000 },
    ...overrides,
  };
}

const transient = (extra: Partial<ConstructorParameters<typeof TransportError>[0]> = {}) =>
  new TransportError({ kind: 'http', transient: true, status: 503, message: 'HTTP 503', ...extra });
const permanent = () =>
  new TransportError({ kind: 'http', transient: false, status: 400, message: 'HTTP 400' });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to fail');
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RegistryPolicy retries', () => {
  test('retries transient failures until success', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 } }),
    );
    let calls = 0;
    const result = await policy.execute(async () => {
      calls++;
      if (calls < 3) throw transient();
      return 'accepted';
    });
    assert.equal(result, 'accepted');
    assert.equal(calls, 3);
  });

  test('gives up after maxAttempts with the last error', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 } }),
    );
    let calls = 0;
    const error = await rejection(
      policy.execute(async () => {
        calls++;
        throw transient({ message: `failure ${calls}` });
      }),
    );
    assert.equal(calls, 3);
    assert.ok(error instanceof TransportError);
    assert.equal(error.message, 'failure 3');
  });

  test('never retries permanent failures or errors that are not transport errors', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ retry: { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 } }),
    );
    let calls = 0;
    const rejected = permanent();
    assert.equal(
      await rejection(
        policy.execute(async () => {
          calls++;
          throw rejected;
        }),
      ),
      rejected,
    );
    const bug = new TypeError('bug');
    assert.equal(
      await rejection(
        policy.execute(async () => {
          calls++;
          throw bug;
        }),
      ),
      bug,
    );
    assert.equal(calls, 2);
  });

  test('waits at least Retry-After before retrying, and leaves a Retry-After above maxDelayMs to the caller', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 500 } }),
    );
    const times: number[] = [];
    await policy.execute(async () => {
      times.push(Date.now());
      if (times.length === 1) throw transient({ kind: 'rate-limited', status: 429, retryAfterMs: 300 });
      return 'ok';
    });
    assert.ok(times[1]! - times[0]! >= 290, `retried after ${times[1]! - times[0]!} ms`);

    let calls = 0;
    const error = await rejection(
      policy.execute(async () => {
        calls++;
        throw transient({ kind: 'rate-limited', status: 429, retryAfterMs: 60_000 });
      }),
    );
    assert.equal(calls, 1);
    assert.ok(error instanceof TransportError && error.retryAfterMs === 60_000);
  });

  test('backoff delays stay within the full-jitter bound', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ retry: { maxAttempts: 4, baseDelayMs: 40, maxDelayMs: 60 } }),
    );
    const times: number[] = [];
    await rejection(
      policy.execute(async () => {
        times.push(Date.now());
        throw transient();
      }),
    );
    assert.equal(times.length, 4);
    // Full jitter: delay n is uniform in [0, min(maxDelay, base * 2^n)), so never above maxDelayMs.
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! < 60 + 30);
  });
});

describe('RegistryPolicy timeout', () => {
  test('aborts an attempt that outlives timeoutMs and reports a transient timeout', async () => {
    const policy = new RegistryPolicy(policyConfig({ timeoutMs: 100 }));
    let aborted = false;
    const started = Date.now();
    const error = await rejection(
      policy.execute(
        (signal) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () => {
              aborted = true;
              reject(new Error('aborted'));
            });
          }),
      ),
    );
    assert.ok(error instanceof TransportError);
    assert.equal(error.kind, 'timeout');
    assert.equal(error.transient, true);
    assert.ok(aborted, 'the attempt signal was not aborted');
    assert.ok(Date.now() - started < 400);
  });
});

describe('RegistryPolicy circuit breaker', () => {
  test('opens after N consecutive transient failures, fails fast, half-opens and closes on success', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ breaker: { consecutiveFailures: 3, halfOpenAfterMs: 200 } }),
    );
    const changes: string[] = [];
    policy.onStateChange((state) => changes.push(state));
    let calls = 0;
    const failing = async () => {
      calls++;
      throw transient();
    };
    for (let i = 0; i < 3; i++) await rejection(policy.execute(failing));
    assert.equal(policy.state, 'open');
    assert.ok(policy.stats().openedAt instanceof Date);

    const fast = await rejection(policy.execute(failing));
    assert.ok(fast instanceof TransportError);
    assert.equal(fast.kind, 'circuit-open');
    assert.equal(fast.transient, true);
    assert.ok(fast.retryAfterMs !== undefined && fast.retryAfterMs > 100 && fast.retryAfterMs <= 200);
    assert.equal(calls, 3, 'an open breaker must not call the registry');

    await sleep(220);
    assert.equal(policy.state, 'half-open');
    // A failed probe opens the breaker again.
    await rejection(policy.execute(failing));
    assert.equal(policy.state, 'open');
    await sleep(220);
    assert.equal(await policy.execute(async () => 'ok'), 'ok');
    assert.equal(policy.state, 'closed');
    assert.equal(policy.stats().openedAt, undefined);
    assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  test('permanent failures and successes between failures keep it closed', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ breaker: { consecutiveFailures: 2, halfOpenAfterMs: 1000 } }),
    );
    for (let i = 0; i < 5; i++) {
      await rejection(
        policy.execute(async () => {
          throw permanent();
        }),
      );
    }
    assert.equal(policy.state, 'closed');
    await rejection(
      policy.execute(async () => {
        throw transient();
      }),
    );
    await policy.execute(async () => 'ok');
    await rejection(
      policy.execute(async () => {
        throw transient();
      }),
    );
    assert.equal(policy.state, 'closed');
  });

  test('isolate holds the breaker open until released', async () => {
    const policy = new RegistryPolicy(policyConfig());
    const handle = policy.isolate();
    assert.equal(policy.state, 'isolated');
    const error = await rejection(policy.execute(async () => 'never'));
    assert.ok(error instanceof TransportError && error.kind === 'circuit-open');
    handle.dispose();
    assert.equal(await policy.execute(async () => 'ok'), 'ok');
  });
});

describe('RegistryPolicy bulkhead', () => {
  test('rejects calls beyond max concurrent plus queue, transiently', async () => {
    const policy = new RegistryPolicy(policyConfig({ maxConcurrent: 2 }), { queueSize: 1 });
    const gate = deferred();
    let started = 0;
    const slow = async () => {
      started++;
      await gate.promise;
      return 'done';
    };
    const running = [policy.execute(slow), policy.execute(slow), policy.execute(slow)];
    await sleep(10);
    assert.deepEqual(policy.stats(), { executing: 2, queued: 1, state: 'closed' });
    const error = await rejection(policy.execute(slow));
    assert.ok(error instanceof TransportError);
    assert.equal(error.kind, 'bulkhead-full');
    assert.equal(error.transient, true);
    assert.equal(started, 2);
    gate.resolve();
    assert.deepEqual(await Promise.all(running), ['done', 'done', 'done']);
    assert.equal(started, 3);
    assert.equal(policy.state, 'closed', 'a full bulkhead is not a registry failure');
  });
});

describe('RegistryPolicy rate limit', () => {
  test('spaces calls to the token rate', async () => {
    const policy = new RegistryPolicy(
      policyConfig({ rateLimitPerSecond: 5, maxConcurrent: 10, timeoutMs: 3000 }),
    );
    const times: number[] = [];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 10 }, () =>
        policy.execute(async () => {
          times.push(Date.now() - started);
        }),
      ),
    );
    const elapsed = Date.now() - started;
    assert.ok(times[0]! < 150, 'the first call should not wait');
    assert.ok(elapsed >= 1600, `10 calls at 5/s took only ${elapsed} ms`);
    assert.ok(elapsed < 3000, `10 calls at 5/s took ${elapsed} ms`);
  });

  test('fails fast when the wait for a token would exceed the timeout, without touching the breaker', async () => {
    const policy = new RegistryPolicy(
      policyConfig({
        rateLimitPerSecond: 2,
        timeoutMs: 200,
        breaker: { consecutiveFailures: 1, halfOpenAfterMs: 1000 },
      }),
    );
    let calls = 0;
    const work = async () => {
      calls++;
      return 'ok';
    };
    assert.equal(await policy.execute(work), 'ok');
    const error = await rejection(policy.execute(work));
    assert.ok(error instanceof TransportError);
    assert.equal(error.kind, 'rate-limited');
    assert.equal(error.transient, true);
    assert.ok((error.retryAfterMs ?? 0) > 200);
    assert.equal(calls, 1);
    assert.equal(policy.state, 'closed');
  });
});

describe('RegistryPolicy lifecycle', () => {
  test('dispose refuses new calls and whenIdle waits for running ones', async () => {
    const policy = new RegistryPolicy(policyConfig());
    const gate = deferred();
    const running = policy.execute(async () => {
      await gate.promise;
      return 'finished';
    });
    policy.dispose();
    const refused = await rejection(policy.execute(async () => 'late'));
    assert.ok(refused instanceof TransportError && refused.transient);
    let idle = false;
    const idlePromise = policy.whenIdle().then(() => (idle = true));
    await sleep(10);
    assert.equal(idle, false);
    gate.resolve();
    assert.equal(await running, 'finished');
    await idlePromise;
    assert.equal(idle, true);
  });

  test('rejects an invalid configuration', () => {
    assert.throws(() => new RegistryPolicy(policyConfig({ maxConcurrent: 0 })), RangeError);
    assert.throws(() => new RegistryPolicy(policyConfig({ timeoutMs: Number.NaN })), RangeError);
  });
});
