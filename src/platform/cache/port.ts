/**
 * Cache port: short-lived, shared, rebuildable data (lookups, counters for rate limits and lockouts).
 * Never the only copy of anything.
 *
 * Values go through JSON on every adapter, so a read returns a copy with JSON semantics (a `Date`
 * comes back as a string, `undefined` properties vanish) whether the cache is in-process or Redis.
 * TTLs are in seconds and may be fractional; omitted means no expiry (memory: until evicted).
 */
export interface Cache {
  /** Which adapter, for health reports and logs. */
  readonly kind: 'memory' | 'redis';
  /** The value, or undefined when absent or expired. */
  get<T>(key: string): Promise<T | undefined>;
  /** Stores a JSON-serialisable value (`undefined` is rejected: it would read back as a miss). */
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>;
  /** Removes a key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Atomically adds 1 and returns the new value (1 for a new key). `ttlSeconds` is applied when the
   * key has no expiry yet, i.e. on the first increment, and never extended: a fixed window.
   * Throws {@link CacheValueError} when the key holds something other than an integer.
   */
  incr(key: string, ttlSeconds?: number): Promise<number>;
  /**
   * The cached value, or the loader's result stored with `ttlSeconds`. Concurrent calls for the same
   * key in this process share one loader call; a failing loader caches nothing. A loader result of
   * `undefined` is returned but not cached.
   */
  getOrSet<T>(key: string, ttlSeconds: number | undefined, loader: () => Promise<T>): Promise<T>;
  /**
   * Sends `message` to the subscribers of `channel` in every process sharing this cache (memory:
   * this process only). Fire and forget: a process that is not subscribed at that moment misses it.
   */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Calls `listener` for every message on `channel` until the returned function is called;
   * resolves once the subscription is active, so later publishes are seen.
   */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  /** Readiness probe: throws {@link CacheUnavailableError} when the backend cannot be reached. */
  check(): Promise<void>;
  /** Releases connections; the instance is unusable afterwards. */
  close(): Promise<void>;
}

export class CacheError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The stored value cannot be used as asked (e.g. incr on a non-integer). */
export class CacheValueError extends CacheError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'IRIS_CACHE_BAD_VALUE', options);
  }
}

export class CacheUnavailableError extends CacheError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'IRIS_CACHE_UNAVAILABLE', options);
  }
}
