import {
  BrokenCircuitError,
  BulkheadRejectedError,
  bulkhead,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  DelegateBackoff,
  ExponentialBackoff,
  fullJitterGenerator,
  handleWhen,
  IsolatedCircuitError,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import type {
  BulkheadPolicy,
  CircuitBreakerPolicy,
  IBackoff,
  IDisposable,
  IRetryBackoffContext,
  TimeoutPolicy,
} from 'cockatiel';
import { TokenBucket } from 'limiter';
import { TransportError } from './errors.js';
import type { RegistryEndpointConfig } from './types.js';

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

export interface PolicyStats {
  executing: number;
  queued: number;
  state: BreakerState;
  openedAt?: Date;
}

export type PolicyConfig = Pick<
  RegistryEndpointConfig,
  'name' | 'timeoutMs' | 'rateLimitPerSecond' | 'maxConcurrent' | 'retry' | 'breaker'
>;

export interface RegistryPolicyOptions {
  /** Calls that may wait for a bulkhead slot; default four per concurrent slot. */
  queueSize?: number;
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/** Failures produced by this policy itself say nothing about the registry's health. */
const LOCAL_KINDS = new Set(['circuit-open', 'bulkhead-full']);

function isRegistryFailure(error: Error): boolean {
  return (
    error instanceof TransportError &&
    error.transient &&
    !LOCAL_KINDS.has(error.kind) &&
    !(error.kind === 'rate-limited' && error.status === undefined)
  );
}

function requirePositive(value: number, name: string, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(
      `registry policy: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`,
    );
  }
}

/**
 * Resilience for the calls to one registry, outermost first:
 * bulkhead (max concurrent calls + bounded queue) → retry (transient failures only, exponential
 * backoff with full jitter, at least Retry-After) → circuit breaker (consecutive transient
 * failures) → token bucket (waits for a token at most timeoutMs) → timeout per attempt.
 */
export class RegistryPolicy {
  private readonly bulkhead: BulkheadPolicy;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly timeout: TimeoutPolicy;
  private readonly pipeline: { execute<T>(fn: () => Promise<T>): Promise<T> };
  private readonly bucket: TokenBucket | undefined;
  private readonly queueSize: number;
  private readonly listeners = new Set<(state: BreakerState) => void>();
  private readonly subscription: IDisposable;
  private tokenWaiters = 0;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private openedAt: number | undefined;
  private disposed = false;

  constructor(
    private readonly config: PolicyConfig,
    options: RegistryPolicyOptions = {},
  ) {
    requirePositive(config.timeoutMs, 'timeoutMs');
    requirePositive(config.rateLimitPerSecond, 'rateLimitPerSecond', true);
    requirePositive(config.maxConcurrent, 'maxConcurrent');
    requirePositive(config.retry.maxAttempts, 'retry.maxAttempts');
    requirePositive(config.retry.baseDelayMs, 'retry.baseDelayMs', true);
    requirePositive(config.retry.maxDelayMs, 'retry.maxDelayMs', true);
    requirePositive(config.breaker.consecutiveFailures, 'breaker.consecutiveFailures');
    requirePositive(config.breaker.halfOpenAfterMs, 'breaker.halfOpenAfterMs', true);

    this.queueSize = options.queueSize ?? config.maxConcurrent * 4;
    this.bulkhead = bulkhead(config.maxConcurrent, this.queueSize);
    // Without abortOnReturn the attempt's signal is aborted only when the timeout fires.
    this.timeout = timeout(config.timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
    this.breaker = circuitBreaker(handleWhen(isRegistryFailure), {
      halfOpenAfter: config.breaker.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(config.breaker.consecutiveFailures),
    });
    const maxDelayMs = config.retry.maxDelayMs;
    const retryPolicy = retry(
      // A Retry-After beyond maxDelayMs is left to the caller's durable queue instead of holding a slot.
      handleWhen(
        (error) => isRegistryFailure(error) && ((error as TransportError).retryAfterMs ?? 0) <= maxDelayMs,
      ),
      { maxAttempts: config.retry.maxAttempts - 1, backoff: this.backoff() },
    );
    this.pipeline = wrap(this.bulkhead, retryPolicy, this.breaker);
    this.subscription = this.breaker.onStateChange((state) => this.stateChanged(state));

    if (config.rateLimitPerSecond > 0) {
      // A burst of a tenth of a second's allowance keeps the spacing even without starving fast rates.
      const bucketSize = Math.max(1, Math.ceil(config.rateLimitPerSecond / 10));
      this.bucket = new TokenBucket({
        bucketSize,
        tokensPerInterval: config.rateLimitPerSecond,
        interval: 1000,
      });
      this.bucket.content = bucketSize;
    }
  }

  /** Runs `fn` under the policy; `fn` must stop when the signal aborts (per-attempt timeout). */
  async execute<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.disposed) {
      throw new TransportError({
        kind: 'circuit-open',
        transient: true,
        message: `registry "${this.config.name}": transport was closed`,
      });
    }
    this.inFlight++;
    try {
      return await this.pipeline.execute(() => this.attempt(fn));
    } catch (error) {
      throw this.translate(error);
    } finally {
      if (--this.inFlight === 0) this.notifyIdle();
    }
  }

  /**
   * The breaker state. The library leaves an open breaker "open" until the next call after
   * halfOpenAfterMs; it is reported as half-open from then on, so that callers that hold back while
   * the breaker is open know a probe call is now allowed.
   */
  get state(): BreakerState {
    const state = STATE_NAMES[this.breaker.state];
    if (
      state === 'open' &&
      this.openedAt !== undefined &&
      Date.now() - this.openedAt >= this.config.breaker.halfOpenAfterMs
    ) {
      return 'half-open';
    }
    return state;
  }

  /** Listens for breaker state changes; returns the unsubscribe function. */
  onStateChange(listener: (state: BreakerState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): PolicyStats {
    const stats: PolicyStats = {
      executing: this.config.maxConcurrent - this.bulkhead.executionSlots,
      queued: this.queueSize - this.bulkhead.queueSlots,
      state: this.state,
    };
    if (this.openedAt !== undefined && stats.state !== 'closed') stats.openedAt = new Date(this.openedAt);
    return stats;
  }

  /** Holds the breaker open (e.g. registry disabled by an administrator) until the handle is disposed. */
  isolate(): { dispose(): void } {
    return this.breaker.isolate();
  }

  /** Refuses new calls; calls already running finish (see whenIdle). */
  dispose(): void {
    this.disposed = true;
    this.subscription.dispose();
    this.listeners.clear();
  }

  /** Resolves once no call is running. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async attempt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    await this.acquireToken();
    let attemptSignal: AbortSignal | undefined;
    try {
      return await this.timeout.execute((_context, signal) => {
        attemptSignal = signal;
        return fn(signal);
      });
    } catch (error) {
      // fn may reject with its own abort error before the library's TaskCancelledError wins the race.
      if (error instanceof TaskCancelledError || attemptSignal?.aborted) {
        throw new TransportError({
          kind: 'timeout',
          transient: true,
          message: `registry "${this.config.name}": no answer within ${this.config.timeoutMs} ms`,
        });
      }
      throw error;
    }
  }

  /**
   * Waits for a rate-limit token unless the queue ahead makes the wait longer than the timeout;
   * then fails at once (transient) rather than enqueueing a wait that would be abandoned.
   */
  private async acquireToken(): Promise<void> {
    const bucket = this.bucket;
    if (!bucket) return;
    if (this.tokenWaiters === 0 && bucket.tryRemoveTokens(1)) return;
    bucket.drip();
    const waitMs = ((this.tokenWaiters + 1 - bucket.content) * 1000) / this.config.rateLimitPerSecond;
    if (waitMs > this.config.timeoutMs) {
      throw new TransportError({
        kind: 'rate-limited',
        transient: true,
        retryAfterMs: Math.ceil(waitMs),
        message: `registry "${this.config.name}": local rate limit of ${this.config.rateLimitPerSecond}/s reached`,
      });
    }
    this.tokenWaiters++;
    try {
      await bucket.removeTokens(1);
    } finally {
      this.tokenWaiters--;
    }
  }

  private backoff(): DelegateBackoff<IRetryBackoffContext<unknown>, IBackoff<unknown> | undefined> {
    const exponential = new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: this.config.retry.baseDelayMs,
      maxDelay: this.config.retry.maxDelayMs,
    });
    return new DelegateBackoff((context, previous) => {
      const next = previous ? previous.next(context) : exponential.next();
      const error = 'error' in context.result ? context.result.error : undefined;
      const retryAfterMs = error instanceof TransportError ? (error.retryAfterMs ?? 0) : 0;
      return { delay: Math.max(next.duration, retryAfterMs), state: next };
    });
  }

  private translate(error: unknown): unknown {
    if (error instanceof IsolatedCircuitError) {
      return new TransportError({
        kind: 'circuit-open',
        transient: true,
        message: `registry "${this.config.name}": circuit isolated, call not attempted`,
      });
    }
    if (error instanceof BrokenCircuitError) {
      // Tells a caller's queue when the breaker will let a probe through.
      const retryAfterMs =
        this.openedAt === undefined
          ? undefined
          : Math.max(0, this.openedAt + this.config.breaker.halfOpenAfterMs - Date.now());
      return new TransportError({
        kind: 'circuit-open',
        transient: true,
        retryAfterMs,
        message: `registry "${this.config.name}": circuit open, call not attempted`,
      });
    }
    if (error instanceof BulkheadRejectedError) {
      return new TransportError({
        kind: 'bulkhead-full',
        transient: true,
        message: `registry "${this.config.name}": too many concurrent calls (max ${this.config.maxConcurrent}, queue ${this.queueSize})`,
      });
    }
    return error;
  }

  private stateChanged(state: CircuitState): void {
    if (state === CircuitState.Open || state === CircuitState.Isolated) this.openedAt = Date.now();
    else if (state === CircuitState.Closed) this.openedAt = undefined;
    const name = STATE_NAMES[state];
    for (const listener of this.listeners) listener(name);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
