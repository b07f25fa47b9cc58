import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CircuitBreaker } from '../../../src/platform/events/breaker.js';
import { compilePatterns, PatternError, patternsRegex } from '../../../src/platform/events/patterns.js';
import { nextRetry, retryPolicy } from '../../../src/platform/events/retry.js';

describe('event patterns', () => {
  test('* matches one segment, ** one or more, literals match exactly', () => {
    const m = compilePatterns(['immunization.*', 'audit.**', 'user.authenticated']);
    assert.equal(m('immunization.recorded'), true);
    assert.equal(m('immunization.recorded.v2'), false);
    assert.equal(m('immunization'), false);
    assert.equal(m('audit.phi.accessed'), true);
    assert.equal(m('audit'), false);
    assert.equal(m('user.authenticated'), true);
    assert.equal(m('user.authenticatedX'), false);
    assert.equal(m('userXauthenticated'), false, 'dots are literal');
    assert.equal(compilePatterns(['**'])('anything.at.all'), true);
  });

  test('invalid patterns are refused', () => {
    assert.throws(() => patternsRegex([]), PatternError);
    assert.throws(() => compilePatterns(['a..b']), PatternError);
    assert.throws(() => compilePatterns(['a.b(c)']), PatternError);
  });
});

describe('retry policy', () => {
  test('exponential backoff with full jitter, capped, then dead', () => {
    const policy = retryPolicy({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 500 });
    assert.deepEqual(
      nextRetry(policy, 1, () => 0.999),
      { kind: 'retry', delayMs: 99 },
    );
    assert.deepEqual(
      nextRetry(policy, 2, () => 0.5),
      { kind: 'retry', delayMs: 100 },
    );
    assert.deepEqual(
      nextRetry(policy, 4, () => 0.999),
      { kind: 'retry', delayMs: 499 },
      'capped at maxDelayMs',
    );
    assert.deepEqual(
      nextRetry(policy, 3, () => 0),
      { kind: 'retry', delayMs: 0 },
    );
    assert.deepEqual(
      nextRetry(policy, 5, () => 0.5),
      { kind: 'dead' },
    );
  });

  test('nonsense policies are refused', () => {
    assert.throws(() => retryPolicy({ maxAttempts: 0 }), RangeError);
    assert.throws(() => retryPolicy({ baseDelayMs: 10, maxDelayMs: 5 }), RangeError);
  });
});

describe('circuit breaker', () => {
  test('opens after N consecutive failures, lets one probe through after the cool-down, closes on success', () => {
    let now = 0;
    const changes: string[] = [];
    const breaker = new CircuitBreaker(
      { threshold: 3, cooldownMs: 1000 },
      () => now,
      (s) => changes.push(s),
    );
    breaker.failure();
    breaker.failure();
    breaker.success();
    breaker.failure();
    breaker.failure();
    assert.equal(breaker.state, 'closed', 'a success resets the count');
    breaker.failure();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.allowance(), 0);
    now = 999;
    assert.equal(breaker.allowance(), 0);
    now = 1000;
    assert.equal(breaker.state, 'half_open');
    assert.equal(breaker.allowance(), 1);
    breaker.started();
    assert.equal(breaker.allowance(), 0, 'one probe at a time');
    breaker.failure();
    assert.equal(breaker.state, 'open', 'a failed probe re-opens');
    now = 2000;
    breaker.started();
    breaker.success();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.allowance(), Number.POSITIVE_INFINITY);
    assert.deepEqual(changes, ['open', 'half_open', 'open', 'half_open', 'closed']);
  });
});
