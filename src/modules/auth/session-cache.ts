import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Cache } from '../../platform/cache/port.js';
import type { Logger } from '../../platform/observability/logger.js';

/** How long a drop waits for its own broadcast to come back before giving up waiting. */
const ECHO_TIMEOUT_MS = 1000;

/**
 * A short in-process layer over the shared session cache, so an authenticated request does not
 * pay a Redis round trip. Revocation stays immediate: every drop is broadcast on the cache's
 * pub/sub channel and each process removes the entry when the message arrives. Until this
 * process is subscribed the layer stays off, so it can never hold an entry it would not hear of.
 */
export class LocalSessionCache<T extends object> {
  private readonly lru: LRUCache<string, T>;
  private readonly channel: string;
  private subscribed = false;
  /** Bumped by every drop: a load that overlapped one must not fill the layer with what it read. */
  private generation = 0;
  /** Broadcasts of this process waiting to come back, by nonce. */
  private readonly echoes = new Map<string, () => void>();

  constructor(
    private readonly shared: Cache,
    namespace: string,
    ttlSeconds: number,
    logger: Logger,
    maxEntries = 10_000,
  ) {
    this.channel = `${namespace}:session-invalidate`;
    this.lru = new LRUCache<string, T>({ max: maxEntries, ttl: Math.max(1, Math.round(ttlSeconds * 1000)) });
    if (ttlSeconds <= 0) return;
    shared
      .subscribe(this.channel, (message) => this.receive(message))
      .then(() => {
        this.subscribed = true;
      })
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'session invalidation channel unavailable; in-process session cache off'),
      );
  }

  /** The entry of this process, else `load()`'s result (kept here when no drop overlapped). */
  async get(id: string, load: () => Promise<T | null>): Promise<T | null> {
    const hit = this.lru.get(id);
    if (hit) return hit;
    const generation = this.generation;
    const value = await load();
    if (value && this.subscribed && generation === this.generation) this.lru.set(id, value);
    return value;
  }

  /**
   * Drops the ids here at once, then tells every other process sharing the cache. Call it after
   * the shared entries are gone, so a load that follows reads the new state.
   */
  async invalidate(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.drop(ids);
    if (!this.subscribed) {
      await this.shared.publish(this.channel, `- ${ids.join(',')}`);
      return;
    }
    // Redis answers the publisher before it writes to the subscribers: waiting for our own copy
    // means every subscriber has been sent the message before the revocation is reported done.
    const nonce = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const echoed = new Promise<void>((resolve) => {
      this.echoes.set(nonce, resolve);
      timer = setTimeout(resolve, ECHO_TIMEOUT_MS);
      timer.unref();
    });
    try {
      await this.shared.publish(this.channel, `${nonce} ${ids.join(',')}`);
      await echoed;
    } finally {
      clearTimeout(timer);
      this.echoes.delete(nonce);
    }
  }

  /** A broadcast: `<nonce> <id>,<id>,...` (nonce `-` when no one waits for it). */
  private receive(message: string): void {
    const space = message.indexOf(' ');
    if (space < 0) return;
    this.drop(message.slice(space + 1).split(','));
    this.echoes.get(message.slice(0, space))?.();
  }

  private drop(ids: readonly string[]): void {
    this.generation += 1;
    for (const id of ids) this.lru.delete(id);
  }
}
