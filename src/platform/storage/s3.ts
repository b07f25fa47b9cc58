import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import {
  DEFAULT_CONTENT_TYPE,
  ObjectIntegrityError,
  ObjectNotFoundError,
  StorageUnavailableError,
  validateListPrefix,
  validateObjectKey,
} from './port.js';
import type {
  GetOptions,
  GetResult,
  ListEntry,
  ObjectMetadata,
  ObjectStorage,
  PutOptions,
  PutResult,
} from './port.js';
import { sha256Hex, spool, verifying } from './streams.js';

export interface S3StorageOptions {
  bucket: string;
  /** Default `us-east-1`, which MinIO and most S3-compatible servers accept. */
  region?: string;
  /** For MinIO and other S3-compatible servers, e.g. `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** Path-style URLs (`/bucket/key`); MinIO and loopback servers need it. */
  forcePathStyle?: boolean;
  /** Static credentials; leave both empty to use the SDK's default chain (env, shared config, instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Keys per ListObjectsV2 request (1–1000, default 1000). */
  listPageSize?: number;
  /** Where streamed uploads are buffered beyond `spoolMemoryLimit` (default: the OS temp dir). */
  spoolDir?: string;
  /** Bytes of a streamed upload kept in memory before spilling to disk (default 8 MiB). */
  spoolMemoryLimit?: number;
}

const SHA256_META = 'sha256';
const DEFAULT_SPOOL_MEMORY = 8 * 1024 * 1024;

/**
 * Objects in an S3 bucket (AWS, MinIO or any S3-compatible server).
 *
 * The SHA-256 is stored as user metadata (`x-amz-meta-sha256`) and also sent as
 * `x-amz-checksum-sha256`, so servers that support it reject a body corrupted in transit. Since
 * both travel in headers, a stream of unknown length is spooled first (memory, then a 0600 temp
 * file) to learn its size and digest; PutObject then uploads with a known Content-Length.
 */
export class S3Storage implements ObjectStorage {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly pageSize: number;
  private readonly spoolDir: string;
  private readonly spoolMemoryLimit: number;

  constructor(options: S3StorageOptions) {
    const pageSize = options.listPageSize ?? 1000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new RangeError(`listPageSize must be an integer from 1 to 1000, got ${pageSize}`);
    }
    this.bucket = options.bucket;
    this.pageSize = pageSize;
    this.spoolDir = options.spoolDir ?? tmpdir();
    this.spoolMemoryLimit = options.spoolMemoryLimit ?? DEFAULT_SPOOL_MEMORY;
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
          : undefined,
      // The default (WHEN_SUPPORTED) sends aws-chunked bodies with trailing CRC checksums, which
      // many S3-compatible servers store verbatim; our explicit SHA-256 header covers integrity.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<PutResult> {
    validateObjectKey(key);
    const spooled = Buffer.isBuffer(body)
      ? { size: body.length, sha256: sha256Hex(body), open: () => body, dispose: async () => undefined }
      : await spool(body, this.spoolDir, this.spoolMemoryLimit);
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: spooled.open(),
          ContentLength: spooled.size,
          ContentType: opts.contentType ?? DEFAULT_CONTENT_TYPE,
          ChecksumSHA256: Buffer.from(spooled.sha256, 'hex').toString('base64'),
          Metadata: { [SHA256_META]: spooled.sha256 },
        }),
      );
      return { key, size: spooled.size, sha256: spooled.sha256, ...(out.ETag ? { etag: out.ETag } : {}) };
    } finally {
      await spooled.dispose();
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult> {
    validateObjectKey(key);
    let out;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isMissingKey(err)) throw new ObjectNotFoundError(key, { cause: err });
      throw err;
    }
    const raw = out.Body;
    if (!(raw instanceof Readable)) throw new TypeError('S3 GetObject returned a non-stream body');
    const meta = toMetadata(key, out);
    if (!opts.verify) return { ...meta, body: raw };
    if (meta.sha256 === null) {
      raw.destroy();
      throw new ObjectIntegrityError(key, 'no SHA-256 was recorded for this object');
    }
    return { ...meta, body: verifying(raw, key, meta.size, meta.sha256) };
  }

  async head(key: string): Promise<ObjectMetadata | null> {
    validateObjectKey(key);
    try {
      return toMetadata(
        key,
        await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
      );
    } catch (err) {
      if (isMissingKey(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    validateObjectKey(key);
    // S3 answers 204 whether or not the key existed, which makes this idempotent.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async *list(prefix = ''): AsyncIterable<ListEntry> {
    validateListPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix === '' ? undefined : prefix,
          MaxKeys: this.pageSize,
          ContinuationToken: token,
        }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        yield { key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new StorageUnavailableError(`S3 bucket ${this.bucket} is not reachable: ${detail}`, {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

interface HeadFields {
  ContentLength?: number;
  ContentType?: string;
  LastModified?: Date;
  ETag?: string;
  Metadata?: Record<string, string>;
}

function toMetadata(key: string, out: HeadFields): ObjectMetadata {
  const sha256 = out.Metadata?.[SHA256_META];
  return {
    key,
    size: out.ContentLength ?? 0,
    sha256: sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : null,
    contentType: out.ContentType ?? DEFAULT_CONTENT_TYPE,
    lastModified: out.LastModified ?? new Date(0),
    ...(out.ETag ? { etag: out.ETag } : {}),
  };
}

/** GET reports NoSuchKey; HEAD has no body, so only its 404 status tells. */
function isMissingKey(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  if (err.name === 'NoSuchBucket') return false;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404;
}
