import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { InvalidObjectKeyError, ObjectNotFoundError } from '../../../src/platform/storage/port.js';
import type { ObjectStorage } from '../../../src/platform/storage/port.js';

export const LARGE_OBJECT_BYTES = 20 * 1024 * 1024;

/**
 * The behaviour every ObjectStorage adapter must share. `makeStorage` is called once, after the
 * caller's own `before` hooks; the storage is closed at the end. Adapters listing in pages should be
 * configured with a tiny page size (2) so that the list tests cross page boundaries.
 */
export function storageContract(name: string, makeStorage: () => Promise<ObjectStorage>): void {
  describe(`ObjectStorage contract: ${name}`, () => {
    let storage: ObjectStorage;

    before(async () => {
      storage = await makeStorage();
    });

    after(async () => {
      await storage?.close();
    });

    test('check() passes on a healthy store', async () => {
      await storage.check();
    });

    test('round-trips binary data with size, sha256 and the default content type', async () => {
      const data = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(4096)]);
      const put = await storage.put('binary/all-bytes.bin', data);
      assert.equal(put.key, 'binary/all-bytes.bin');
      assert.equal(put.size, data.length);
      assert.equal(put.sha256, sha256(data));

      const got = await storage.get('binary/all-bytes.bin');
      assert.deepEqual(await readAll(got.body), data);
      assert.equal(got.size, data.length);
      assert.equal(got.sha256, put.sha256);
      assert.equal(got.contentType, 'application/octet-stream');
      assert.ok(got.lastModified instanceof Date && !Number.isNaN(got.lastModified.getTime()));
    });

    test('stores an empty object', async () => {
      const put = await storage.put('binary/empty', Buffer.alloc(0));
      assert.equal(put.size, 0);
      assert.equal(put.sha256, sha256(Buffer.alloc(0)));
      const got = await storage.get('binary/empty');
      assert.equal((await readAll(got.body)).length, 0);
    });

    test('preserves the content type', async () => {
      await storage.put('typed/report.pdf', Buffer.from('%PDF-1.7'), { contentType: 'application/pdf' });
      assert.equal((await storage.head('typed/report.pdf'))?.contentType, 'application/pdf');
      const got = await storage.get('typed/report.pdf');
      assert.equal(got.contentType, 'application/pdf');
      got.body.resume();
    });

    test(`streams a ${LARGE_OBJECT_BYTES / 1024 / 1024} MB object of unknown length both ways`, async () => {
      const source = generatedStream(LARGE_OBJECT_BYTES);
      const put = await storage.put('large/blob.bin', source.stream, { contentType: 'application/x-test' });
      assert.equal(put.size, LARGE_OBJECT_BYTES);
      assert.equal(put.sha256, source.sha256());

      const got = await storage.get('large/blob.bin', { verify: true });
      assert.equal(got.size, LARGE_OBJECT_BYTES);
      assert.equal(got.sha256, put.sha256);
      const read = await hashStream(got.body);
      assert.equal(read.size, LARGE_OBJECT_BYTES);
      assert.equal(read.sha256, put.sha256);
    });

    test('head returns metadata without the body, and null for a missing key', async () => {
      const data = Buffer.from('head me');
      await storage.put('head/present.txt', data, { contentType: 'text/plain' });
      const meta = await storage.head('head/present.txt');
      assert.ok(meta);
      assert.equal(meta.key, 'head/present.txt');
      assert.equal(meta.size, data.length);
      assert.equal(meta.sha256, sha256(data));
      assert.equal(meta.contentType, 'text/plain');
      assert.ok(meta.lastModified instanceof Date);
      assert.equal(await storage.head('head/absent.txt'), null);
    });

    test('put replaces an existing object, content and metadata', async () => {
      await storage.put('replace/doc', Buffer.from('first version'), { contentType: 'text/plain' });
      const second = Buffer.from('second, longer version');
      await storage.put('replace/doc', second, { contentType: 'application/json' });
      const got = await storage.get('replace/doc', { verify: true });
      assert.deepEqual(await readAll(got.body), second);
      assert.equal(got.contentType, 'application/json');
      assert.equal(got.sha256, sha256(second));
    });

    test('a failing source stream stores nothing and keeps the previous version', async () => {
      await storage.put('failing/doc', Buffer.from('good'));
      await assert.rejects(storage.put('failing/doc', failingStream()), /source broke/);
      await assert.rejects(storage.put('failing/new', failingStream()), /source broke/);
      const got = await storage.get('failing/doc');
      assert.equal((await readAll(got.body)).toString(), 'good');
      assert.equal(await storage.head('failing/new'), null);
    });

    test('get of a missing key throws ObjectNotFoundError', async () => {
      await assert.rejects(storage.get('missing/nothing-here'), (err: unknown) => {
        assert.ok(err instanceof ObjectNotFoundError);
        assert.equal(err.code, 'IRIS_STORAGE_NOT_FOUND');
        assert.equal(err.key, 'missing/nothing-here');
        return true;
      });
    });

    test('delete removes the object and is idempotent', async () => {
      await storage.put('delete/me', Buffer.from('x'));
      await storage.delete('delete/me');
      assert.equal(await storage.head('delete/me'), null);
      await assert.rejects(storage.get('delete/me'), ObjectNotFoundError);
      await storage.delete('delete/me');
      await storage.delete('delete/never-existed');
    });

    test('an object and a "directory" of the same name coexist', async () => {
      await storage.put('nest/a', Buffer.from('file a'));
      await storage.put('nest/a/b', Buffer.from('file a/b'));
      assert.equal((await readAll((await storage.get('nest/a')).body)).toString(), 'file a');
      assert.equal((await readAll((await storage.get('nest/a/b')).body)).toString(), 'file a/b');
      await storage.delete('nest/a/b');
      assert.equal((await storage.head('nest/a'))?.size, 6);
    });

    test('keys with unicode, spaces, punctuation and case differences are distinct and round-trip', async () => {
      const keys = [
        'odd/Überweisung Ärztin 2024.pdf',
        'odd/a+b=c&d?e#f%20~!.txt',
        'odd/Case',
        'odd/case',
        'odd/😀',
      ];
      for (const key of keys) await storage.put(key, Buffer.from(key));
      for (const key of keys) assert.equal((await readAll((await storage.get(key)).body)).toString(), key);
      assert.deepEqual(await listKeys(storage, 'odd/'), [...keys].sort(byUtf8));
    });

    test('list returns the keys under a prefix in byte order with sizes, across pages', async () => {
      // Keys avoid characters sorting below '/' right after a shared stem (e.g. 'a-x' beside 'a/'):
      // s3rver lists in directory-walk order there, unlike S3 (local disk is checked separately).
      const keys = [
        'list/a/1',
        'list/a/2',
        'list/a/3',
        'list/a/4',
        'list/a/5',
        'list/ab',
        'list/abc/1',
        'lista',
      ];
      for (const key of keys) await storage.put(key, Buffer.from(key));

      assert.deepEqual(await listKeys(storage, 'list/a/'), [
        'list/a/1',
        'list/a/2',
        'list/a/3',
        'list/a/4',
        'list/a/5',
      ]);
      // A partial segment matches objects and "directories" alike.
      assert.deepEqual(await listKeys(storage, 'list/a'), [
        'list/a/1',
        'list/a/2',
        'list/a/3',
        'list/a/4',
        'list/a/5',
        'list/ab',
        'list/abc/1',
      ]);
      assert.deepEqual(await listKeys(storage, 'list/'), keys.slice(0, -1));
      assert.deepEqual(await listKeys(storage, 'nothing-here/'), []);

      const entries = [];
      for await (const entry of storage.list('list/a/')) entries.push(entry);
      for (const entry of entries) {
        assert.equal(entry.size, Buffer.byteLength(entry.key));
        assert.ok(entry.lastModified instanceof Date);
      }
    });

    test('list without a prefix sees everything, deleted keys excluded', async () => {
      await storage.put('all/one', Buffer.from('1'));
      await storage.put('all/two', Buffer.from('2'));
      await storage.delete('all/two');
      const keys = await listKeys(storage);
      assert.ok(keys.includes('all/one'));
      assert.ok(!keys.includes('all/two'));
      assert.deepEqual(keys, [...keys].sort(byUtf8));
    });

    test('rejects keys that could escape the store or are not portable', async () => {
      const bad = [
        '',
        '../outside',
        'a/../../outside',
        'a/..',
        './a',
        'a/./b',
        '/etc/passwd',
        'a//b',
        'trailing/',
        'nul\u0000byte',
        'new\nline',
        'back\\slash',
        'lone\ud800surrogate',
        'x'.repeat(1025),
      ];
      for (const key of bad) {
        const label = JSON.stringify(key.slice(0, 40));
        await assert.rejects(storage.put(key, Buffer.from('x')), InvalidObjectKeyError, `put ${label}`);
        await assert.rejects(storage.get(key), InvalidObjectKeyError, `get ${label}`);
        await assert.rejects(storage.head(key), InvalidObjectKeyError, `head ${label}`);
        await assert.rejects(storage.delete(key), InvalidObjectKeyError, `delete ${label}`);
      }
      await assert.rejects(listKeys(storage, '../'), (err: unknown) => {
        assert.ok(err instanceof InvalidObjectKeyError);
        assert.equal(err.code, 'IRIS_STORAGE_INVALID_KEY');
        return true;
      });
    });
  });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function hashStream(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

export async function listKeys(storage: ObjectStorage, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of storage.list(prefix)) keys.push(entry.key);
  return keys;
}

function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A lazily generated stream (never fully in memory) whose digest is known once it has been read. */
function generatedStream(totalBytes: number): { stream: Readable; sha256(): string } {
  const hash = createHash('sha256');
  const chunkSize = 64 * 1024;
  const stream = Readable.from(
    (function* () {
      for (let sent = 0; sent < totalBytes; sent += chunkSize) {
        const chunk = randomBytes(Math.min(chunkSize, totalBytes - sent));
        hash.update(chunk);
        yield chunk;
      }
    })(),
  );
  return { stream, sha256: () => hash.digest('hex') };
}

function failingStream(): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.alloc(1024, 1);
      throw new Error('source broke');
    })(),
  );
}
