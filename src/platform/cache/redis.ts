import { Redis } from 'ioredis';
import { JsonCache, ttlMillis } from './base.js';
import { CacheUnavailableError, CacheValueError } from './port.js';

export interface RedisCacheOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /** Namespace prepended to every key (e.g. `iris:`), so instances can share a Redis server. */
  keyPrefix?: string;
}

const CHECK_TIMEOUT_MS = 2000;

/**
 * Counts and sets the expiry in one step, so a crash between the two can never leave a counter
 * that never expires. An existing expiry is kept, which makes the TTL a fixed window.
 */
const INCR_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if ARGV[1] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n`;

/** Redis-backed cache, shared by every API and worker process. */
export class RedisCache extends JsonCache {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly keyPrefix: string;
  private lastError: Error | undefined;
  /** A connection in subscriber mode can send nothing else: opened at the first subscribe. */
  private subscriber: Redis | undefined;
  private readonly listeners = new Map<string, Set<(message: string) => void>>();

  constructor(options: RedisCacheOptions) {
    super();
    this.keyPrefix = options.keyPrefix ?? '';
    this.redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      // A cache should fail fast rather than queue requests through a long outage.
      maxRetriesPerRequest: 2,
    });
    // Without a listener ioredis prints every reconnect failure; keep the last one for check().
    this.redis.on('error', (err: Error) => {
      this.lastError = err;
    });
    this.redis.on('ready', () => {
      this.lastError = undefined;
    });
  }

  protected async read(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  protected async write(key: string, json: string, ttlMs: number | undefined): Promise<void> {
    if (ttlMs === undefined) await this.redis.set(key, json);
    else await this.redis.set(key, json, 'PX', ttlMs);
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(key);
  }

  async incr(key: string, ttlSeconds?: number): Promise<number> {
    const ttlMs = ttlMillis(ttlSeconds);
    try {
      return Number(await this.redis.eval(INCR_SCRIPT, 1, key, ttlMs === undefined ? '' : String(ttlMs)));
    } catch (err) {
      if (err instanceof Error && /not an integer/i.test(err.message)) {
        throw new CacheValueError(`cannot increment ${key}: it does not hold an integer`, { cause: err });
      }
      throw err;
    }
  }

  // Channels are not keys (ioredis does not prefix them), so the namespace is added here.
  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.keyPrefix + channel, message);
  }

  async subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    const name = this.keyPrefix + channel;
    const sub = this.subscriberConnection();
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
      await sub.subscribe(name);
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(name);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(name);
      if (sub.status === 'ready') await sub.unsubscribe(name);
    };
  }

  private subscriberConnection(): Redis {
    if (!this.subscriber) {
      const sub = this.redis.duplicate();
      sub.on('error', (err: Error) => {
        this.lastError = err;
      });
      sub.on('message', (channel: string, message: string) => {
        for (const listener of this.listeners.get(channel) ?? []) listener(message);
      });
      this.subscriber = sub;
    }
    return this.subscriber;
  }

  async check(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.redis.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
            CHECK_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      const reason = this.lastError ?? err;
      const detail = reason instanceof Error ? reason.message : String(reason);
      throw new CacheUnavailableError(`redis is not reachable: ${detail}`, { cause: reason });
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.all([this.redis, ...(this.subscriber ? [this.subscriber] : [])].map(quit));
  }
}

/** QUIT lets pending replies arrive; with no live connection there is nothing to wait for. */
async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit();
  else redis.disconnect();
}
