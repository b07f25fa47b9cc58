import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import { JsonCache, ttlMillis } from './base.js';
import { CacheValueError } from './port.js';

export interface MemoryCacheOptions {
  /** Entries kept before the least recently used are evicted (default 10 000). */
  maxEntries?: number;
  /** Millisecond clock, for tests; must not start at 0 (lru-cache reads a 0 start as "no TTL"). */
  now?: () => number;
}

/** In-process LRU cache: the default when no Redis is configured; not shared between processes. */
export class MemoryCache extends JsonCache {
  readonly kind = 'memory' as const;
  private readonly lru: LRUCache<string, string>;
  private readonly channels = new EventEmitter().setMaxListeners(0);

  constructor(options: MemoryCacheOptions = {}) {
    super();
    this.lru = new LRUCache<string, string>({
      max: options.maxEntries ?? 10_000,
      // lru-cache memoises the clock for ttlResolution ms of real time, which would hide a fake clock.
      ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
    });
  }

  protected async read(key: string): Promise<string | undefined> {
    return this.lru.get(key);
  }

  protected async write(key: string, json: string, ttlMs: number | undefined): Promise<void> {
    this.lru.set(key, json, { ttl: ttlMs ?? 0 });
  }

  async delete(key: string): Promise<void> {
    this.lru.delete(key);
  }

  // Synchronous between reading and writing, hence atomic within the process.
  async incr(key: string, ttlSeconds?: number): Promise<number> {
    const ttlMs = ttlMillis(ttlSeconds);
    const current = this.lru.get(key);
    let next = 1;
    if (current !== undefined) {
      const value: unknown = JSON.parse(current);
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new CacheValueError(`cannot increment ${key}: it does not hold an integer`);
      }
      next = value + 1;
    }
    const hasExpiry = current !== undefined && this.lru.getRemainingTTL(key) !== Infinity;
    if (hasExpiry || ttlMs === undefined) this.lru.set(key, String(next), { noUpdateTTL: true });
    else this.lru.set(key, String(next), { ttl: ttlMs });
    return next;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.channels.emit(channel, message);
  }

  async subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    this.channels.on(channel, listener);
    return async () => {
      this.channels.off(channel, listener);
    };
  }

  async check(): Promise<void> {
    // Always available: it lives in this process.
  }

  async close(): Promise<void> {
    this.lru.clear();
    this.channels.removeAllListeners();
  }
}
