import type { Readable } from 'node:stream';

/**
 * Object storage port: binary blobs (documents, scans, exports) addressed by key.
 *
 * Keys are '/'-separated paths of non-empty segments, e.g. `documents/2024/abc.pdf`. The same
 * rules apply to every adapter so that data can move between local disk and S3 unchanged.
 */
export interface ObjectStorage {
  /** Which adapter, for health reports and logs (same names as the `storage.kind` configuration). */
  readonly kind: 'local' | 's3';
  /** Stores (or atomically replaces) an object; the SHA-256 is computed while streaming. */
  put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<PutResult>;
  /** Streams an object. Throws {@link ObjectNotFoundError} when it does not exist. */
  get(key: string, opts?: GetOptions): Promise<GetResult>;
  /** Metadata of an object, or null when it does not exist. */
  head(key: string): Promise<ObjectMetadata | null>;
  /** Removes an object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Objects whose key starts with `prefix`, in ascending key order; pages are fetched lazily. */
  list(prefix?: string): AsyncIterable<ListEntry>;
  /** Readiness probe: throws when the store cannot be reached or written. */
  check(): Promise<void>;
  /** Releases connections; the instance is unusable afterwards. */
  close(): Promise<void>;
}

export interface PutOptions {
  /** Stored and returned by get/head; defaults to `application/octet-stream`. */
  contentType?: string;
}

export interface GetOptions {
  /**
   * Re-hash the body while it is read; the stream then fails with {@link ObjectIntegrityError}
   * at its end when size or SHA-256 differ from the stored metadata.
   */
  verify?: boolean;
}

export interface PutResult {
  key: string;
  size: number;
  /** Lower-case hex SHA-256 of the body. */
  sha256: string;
  /** Backend entity tag (S3 only). */
  etag?: string;
}

export interface ObjectMetadata {
  key: string;
  size: number;
  /**
   * Lower-case hex SHA-256 recorded at put time; null only for S3 objects that were written by
   * another tool, without the `x-amz-meta-sha256` header.
   */
  sha256: string | null;
  contentType: string;
  lastModified: Date;
  etag?: string;
}

export interface GetResult extends ObjectMetadata {
  body: Readable;
}

export interface ListEntry {
  key: string;
  size: number;
  lastModified: Date;
}

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Base class so callers can catch every storage failure the port defines. */
export class StorageError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`object not found: ${key}`, 'IRIS_STORAGE_NOT_FOUND', options);
  }
}

export class InvalidObjectKeyError extends StorageError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid object key ${JSON.stringify(key)}: ${reason}`, 'IRIS_STORAGE_INVALID_KEY');
  }
}

export class ObjectIntegrityError extends StorageError {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`object ${key} failed verification: ${detail}`, 'IRIS_STORAGE_INTEGRITY');
  }
}

/** Storage backend unreachable, misconfigured or refusing access. */
export class StorageUnavailableError extends StorageError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'IRIS_STORAGE_UNAVAILABLE', options);
  }
}

/** S3's own limit; local disk applies it too so keys stay portable. */
const MAX_KEY_BYTES = 1024;

/**
 * Throws {@link InvalidObjectKeyError} unless `key` is a portable object key: relative, '/'-separated,
 * no empty, `.` or `..` segments, no backslashes and no control characters (NUL included). This is
 * what guarantees that a key can never address anything outside the store's root.
 */
export function validateObjectKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidObjectKeyError(String(key), 'empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidObjectKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  }
  validateKeyText(key);
  if (key.startsWith('/')) throw new InvalidObjectKeyError(key, 'absolute path');
  for (const segment of key.split('/')) {
    if (segment === '') throw new InvalidObjectKeyError(key, 'empty path segment');
    if (segment === '.' || segment === '..') throw new InvalidObjectKeyError(key, `"${segment}" segment`);
  }
}

/**
 * A list prefix may end anywhere (`docs/`, `docs/20`); it may be empty. Complete segments follow
 * the key rules.
 */
export function validateListPrefix(prefix: string): void {
  if (prefix === '') return;
  validateKeyText(prefix);
  if (prefix.startsWith('/')) throw new InvalidObjectKeyError(prefix, 'absolute path');
  const complete = prefix.split('/').slice(0, -1);
  for (const segment of complete) {
    if (segment === '') throw new InvalidObjectKeyError(prefix, 'empty path segment');
    if (segment === '.' || segment === '..') throw new InvalidObjectKeyError(prefix, `"${segment}" segment`);
  }
}

function validateKeyText(key: string): void {
  // Control characters break file systems, HTTP headers and logs alike.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new InvalidObjectKeyError(key, 'control character');
  if (key.includes('\\')) throw new InvalidObjectKeyError(key, 'backslash');
  // A lone surrogate would be silently replaced by U+FFFD on encoding, aliasing another key.
  if (Buffer.from(key, 'utf8').toString('utf8') !== key)
    throw new InvalidObjectKeyError(key, 'malformed UTF-16');
}
