import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { ObjectIntegrityError } from './port.js';

export interface Digest {
  size: number;
  sha256: string;
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function randomId(): string {
  return randomBytes(16).toString('hex');
}

/** Writes `body` to an open file, hashing on the way, and syncs it so a later rename is durable. */
export async function writeHashed(handle: FileHandle, body: Buffer | Readable): Promise<Digest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of chunksOf(body)) {
    hash.update(chunk);
    size += chunk.length;
    await handle.write(chunk);
  }
  await handle.sync();
  return { size, sha256: hash.digest('hex') };
}

/** A fully received body: in memory when small, else in a private temp file. */
export interface Spooled extends Digest {
  /** A fresh stream (or the buffer) of the content. */
  open(): Buffer | Readable;
  dispose(): Promise<void>;
}

/**
 * Receives a stream of unknown length so that size and SHA-256 are known before an upload starts
 * (S3 wants Content-Length, and our checksum travels in a header). Memory use stays bounded by
 * `memoryLimit`; beyond it the body goes to a 0600 temp file in `tmpDir`.
 */
export async function spool(body: Readable, tmpDir: string, memoryLimit: number): Promise<Spooled> {
  const hash = createHash('sha256');
  let size = 0;
  const chunks: Buffer[] = [];
  let file: { path: string; handle: FileHandle } | undefined;
  try {
    for await (const chunk of chunksOf(body)) {
      hash.update(chunk);
      size += chunk.length;
      if (file) {
        await file.handle.write(chunk);
      } else if (size <= memoryLimit) {
        chunks.push(chunk);
      } else {
        const path = join(tmpDir, `iris-spool-${randomId()}`);
        file = { path, handle: await open(path, 'wx', 0o600) };
        for (const buffered of chunks) await file.handle.write(buffered);
        chunks.length = 0;
        await file.handle.write(chunk);
      }
    }
    await file?.handle.close();
  } catch (err) {
    if (file) {
      await file.handle.close().catch(() => undefined);
      await unlink(file.path).catch(() => undefined);
    }
    throw err;
  }
  const digest = { size, sha256: hash.digest('hex') };
  if (!file) {
    const buffer = Buffer.concat(chunks);
    return { ...digest, open: () => buffer, dispose: async () => undefined };
  }
  const path = file.path;
  return {
    ...digest,
    open: () => createReadStream(path),
    dispose: () => unlink(path).catch(() => undefined),
  };
}

/**
 * Wraps a body stream so it fails with {@link ObjectIntegrityError} at its end when the bytes read
 * differ from the recorded size or SHA-256. Destroying the returned stream destroys the source.
 */
export function verifying(source: Readable, key: string, size: number, sha256: string): Readable {
  const hash = createHash('sha256');
  let seen = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      seen += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const actual = hash.digest('hex');
      if (seen !== size) callback(new ObjectIntegrityError(key, `read ${seen} bytes, expected ${size}`));
      else if (actual !== sha256)
        callback(new ObjectIntegrityError(key, `sha256 ${actual}, expected ${sha256}`));
      else callback();
    },
  });
  // Errors reach the consumer through `check`; the callback only keeps pipeline from throwing.
  return pipeline(source, check, () => undefined);
}

async function* chunksOf(body: Buffer | Readable): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    yield body;
    return;
  }
  for await (const chunk of body as AsyncIterable<Buffer | string | Uint8Array>) {
    yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
  }
}
