import type { Cache } from './port.js';

/**
 * What both adapters share: JSON encoding, TTL validation and in-process single flight. Adapters
 * only move encoded strings.
 */
export abstract class JsonCache implements Cache {
  abstract readonly kind: Cache['kind'];
  private readonly inFlight = new Map<string, Promise<unknown>>();

  protected abstract read(key: string): Promise<string | undefined>;
  protected abstract write(key: string, json: string, ttlMs: number | undefined): Promise<void>;
  abstract delete(key: string): Promise<void>;
  abstract incr(key: string, ttlSeconds?: number): Promise<number>;
  abstract publish(channel: string, message: string): Promise<void>;
  abstract subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  abstract check(): Promise<void>;
  abstract close(): Promise<void>;

  async get<T>(key: string): Promise<T | undefined> {
    const json = await this.read(key);
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    await this.write(key, encodeValue(value), ttlMillis(ttlSeconds));
  }

  getOrSet<T>(key: string, ttlSeconds: number | undefined, loader: () => Promise<T>): Promise<T> {
    const existing = this.inFlight.get(key);
    if (existing) return existing as Promise<T>;
    const promise = this.readThrough(key, ttlMillis(ttlSeconds), loader).finally(() =>
      this.inFlight.delete(key),
    );
    this.inFlight.set(key, promise);
    return promise;
  }

  private async readThrough<T>(key: string, ttlMs: number | undefined, loader: () => Promise<T>): Promise<T> {
    const cached = await this.read(key);
    if (cached !== undefined) return JSON.parse(cached) as T;
    const value = await loader();
    if (value === undefined) return value;
    const json = encodeValue(value);
    await this.write(key, json, ttlMs);
    // Hand out the same JSON copy a later hit would return, so callers never see a difference.
    return JSON.parse(json) as T;
  }
}

function encodeValue(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`cache values must be JSON-serialisable, got ${typeof value}`);
  return json;
}

/** Seconds to whole milliseconds (at least 1); undefined means no expiry. */
export function ttlMillis(ttlSeconds: number | undefined): number | undefined {
  if (ttlSeconds === undefined) return undefined;
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttlSeconds must be a positive number, got ${ttlSeconds}`);
  }
  return Math.max(1, Math.round(ttlSeconds * 1000));
}
