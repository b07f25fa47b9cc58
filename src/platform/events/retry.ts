import type { RetryPolicy } from './port.js';

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 5 * 60_000 };

export function retryPolicy(
  partial: Partial<RetryPolicy> | undefined,
  defaults = DEFAULT_RETRY,
): RetryPolicy {
  const policy = { ...defaults, ...partial };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1)
    throw new RangeError('retry.maxAttempts must be a whole number >= 1');
  if (policy.baseDelayMs < 0 || policy.maxDelayMs < policy.baseDelayMs)
    throw new RangeError('retry delays must satisfy 0 <= baseDelayMs <= maxDelayMs');
  return policy;
}

export type RetryDecision = { kind: 'retry'; delayMs: number } | { kind: 'dead' };

/**
 * After a failed attempt number `attempt` (1-based): exponential backoff with full jitter
 * (a uniform delay up to the capped exponential), so that many failing deliveries do not
 * retry in lock-step; dead-lettered once the attempts are used up.
 */
export function nextRetry(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): RetryDecision {
  if (attempt >= policy.maxAttempts) return { kind: 'dead' };
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return { kind: 'retry', delayMs: Math.floor(random() * ceiling) };
}
