import { MemoryCache } from './memory.js';
import type { Cache } from './port.js';
import { RedisCache } from './redis.js';

export * from './port.js';
export { MemoryCache } from './memory.js';
export type { MemoryCacheOptions } from './memory.js';
export { RedisCache } from './redis.js';
export type { RedisCacheOptions } from './redis.js';

export interface CacheConfig {
  /** Redis when set (shared between processes); otherwise an in-process LRU. */
  redisUrl?: string;
  /** Redis key namespace, e.g. `iris:`; irrelevant in process. */
  keyPrefix?: string;
  /** Capacity of the in-process LRU. */
  maxEntries?: number;
}

export function createCache(config: CacheConfig = {}): Cache {
  return config.redisUrl
    ? new RedisCache({ url: config.redisUrl, keyPrefix: config.keyPrefix })
    : new MemoryCache({ maxEntries: config.maxEntries });
}
