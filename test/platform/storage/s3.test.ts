import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createObjectStorage } from '../../../src/platform/storage/index.js';
import { ObjectIntegrityError, StorageUnavailableError } from '../../../src/platform/storage/port.js';
import { S3Storage } from '../../../src/platform/storage/s3.js';
import type { S3StorageOptions } from '../../../src/platform/storage/s3.js';
import { readAll, storageContract } from './contract.js';

/**
 * Runs s3rver in a child process: its ListObjectsV2 continuation tokens are DES-encrypted, and DES
 * is only available with OpenSSL 3's legacy provider, which must be enabled at process start.
 * The child exits when its stdin closes, so it cannot outlive this test process.
 */
async function startS3rver(directory: string): Promise<{ port: number; stop(): Promise<void> }> {
  const script = `
    const S3rver = require(process.env.S3RVER_MODULE);
    const server = new S3rver({ address: '127.0.0.1', port: 0, directory: process.env.S3RVER_DIR, silent: true });
    server.run().then(({ port }) => console.log(JSON.stringify({ port })), (err) => { console.error(err); process.exit(1); });
    process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], {
    env: {
      ...process.env,
      S3RVER_MODULE: createRequire(import.meta.url).resolve('s3rver'),
      S3RVER_DIR: directory,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const [line] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line') as Promise<[string]>,
    exited.then(([code]) => Promise.reject(new Error(`s3rver exited early with code ${String(code)}`))),
  ]);
  const { port } = JSON.parse(line) as { port: number };
  return {
    port,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

const BUCKET = 'iris-test';

/** A real S3-protocol server on loopback, with its own directory and a bucket made through the API. */
describe('S3Storage against s3rver', () => {
  let dir: string;
  let server: { port: number; stop(): Promise<void> };
  let options: S3StorageOptions;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iris-s3rver-'));
    server = await startS3rver(join(dir, 'server'));
    const { port } = server;
    options = {
      bucket: BUCKET,
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      region: 'us-east-1',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      spoolDir: dir,
      // Small enough that the 20 MB contract object is spooled through a temp file.
      spoolMemoryLimit: 1024 * 1024,
    };
    const admin = new S3Client({
      endpoint: options.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
    admin.destroy();
  });

  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  storageContract(
    's3 (s3rver, list page size 2)',
    async () => new S3Storage({ ...options, listPageSize: 2 }),
  );

  describe('S3Storage specifics', () => {
    test('the factory picks S3 when it is configured', async () => {
      const storage = createObjectStorage({ kind: 's3', ...options });
      assert.ok(storage instanceof S3Storage);
      assert.equal(storage.kind, 's3');
      await storage.check();
      await storage.close();
    });

    test('spooled uploads leave no temp file behind', async () => {
      const entries = await readdir(dir);
      assert.deepEqual(
        entries.filter((name) => name.startsWith('iris-spool-')),
        [],
      );
    });

    test('check() fails with StorageUnavailableError for a missing bucket', async () => {
      const storage = new S3Storage({ ...options, bucket: 'no-such-bucket' });
      await assert.rejects(storage.check(), (err: unknown) => {
        assert.ok(err instanceof StorageUnavailableError);
        assert.equal(err.code, 'IRIS_STORAGE_UNAVAILABLE');
        return true;
      });
      await storage.close();
    });

    test('get with verify fails when the stored bytes no longer match the recorded sha256', async () => {
      const storage = new S3Storage(options);
      await storage.put('tamper/evidence.txt', Buffer.from('original content'));
      // s3rver keeps each object as <dir>/<bucket>/<key>._S3rver_object.
      await writeFile(
        join(dir, 'server', BUCKET, 'tamper', 'evidence.txt._S3rver_object'),
        'tampered content',
      );
      const got = await storage.get('tamper/evidence.txt', { verify: true });
      await assert.rejects(readAll(got.body), ObjectIntegrityError);
      await storage.close();
    });

    test('rejects a list page size S3 cannot serve', () => {
      assert.throws(() => new S3Storage({ ...options, listPageSize: 0 }), RangeError);
      assert.throws(() => new S3Storage({ ...options, listPageSize: 1001 }), RangeError);
    });
  });
});
