import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createObjectStorage } from '../../../src/platform/storage/index.js';
import { LocalDiskStorage } from '../../../src/platform/storage/local-disk.js';
import { ObjectIntegrityError, StorageUnavailableError } from '../../../src/platform/storage/port.js';
import { listKeys, readAll, storageContract } from './contract.js';

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'iris-storage-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

storageContract('local disk', async () => new LocalDiskStorage({ root: join(root, 'contract') }));

describe('LocalDiskStorage specifics', () => {
  test('the factory picks local disk when S3 is not configured', () => {
    const storage = createObjectStorage({ kind: 'local', root: join(root, 'factory') });
    assert.ok(storage instanceof LocalDiskStorage);
    assert.equal(storage.kind, 'local');
  });

  test('every file stays under the root, is private, and no temp file is left behind', async () => {
    const dir = join(root, 'layout');
    const storage = new LocalDiskStorage({ root: dir });
    await storage.put('docs/a.txt', Buffer.from('a'));
    await storage.put('docs/a.txt', Buffer.from('replaced'));
    await storage.put('docs/b.txt', Buffer.from('b'));
    await storage.delete('docs/b.txt');

    const files = await walk(dir);
    assert.ok(files.every((file) => !relative(dir, file).startsWith('..')));
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    // One content file per live object: replaced and deleted content is removed.
    const blobs = files.filter((file) => relative(dir, file).startsWith('blobs'));
    assert.equal(blobs.length, 1);
    assert.equal((await stat(blobs[0] ?? '')).mode & 0o777, 0o600);
    // The emptied "docs/" directory of b.txt remains because a.txt lives there.
    assert.deepEqual(
      files.filter((file) => relative(dir, file).startsWith('objects')).map((f) => relative(dir, f)),
      [join('objects', 'docs', 'a.txt~.json')],
    );
  });

  test('delete prunes directories it leaves empty', async () => {
    const dir = join(root, 'prune');
    const storage = new LocalDiskStorage({ root: dir });
    await storage.put('deep/er/still/x', Buffer.from('x'));
    await storage.delete('deep/er/still/x');
    assert.deepEqual(await readdir(join(dir, 'objects')), []);
  });

  test('get with verify fails when the content on disk was altered', async () => {
    const dir = join(root, 'tamper');
    const storage = new LocalDiskStorage({ root: dir });
    await storage.put('evidence.txt', Buffer.from('original content'));
    const [blob] = (await walk(dir)).filter((file) => relative(dir, file).startsWith('blobs'));
    await writeFile(blob ?? '', 'tampered content');

    const unverified = await storage.get('evidence.txt');
    assert.equal((await readAll(unverified.body)).toString(), 'tampered content');
    const verified = await storage.get('evidence.txt', { verify: true });
    await assert.rejects(readAll(verified.body), (err: unknown) => {
      assert.ok(err instanceof ObjectIntegrityError);
      assert.equal(err.code, 'IRIS_STORAGE_INTEGRITY');
      return true;
    });
  });

  test('a reader keeps its content while the object is replaced', async () => {
    const storage = new LocalDiskStorage({ root: join(root, 'replace-while-reading') });
    await storage.put('doc', Buffer.alloc(256 * 1024, 'a'));
    const reading = await storage.get('doc', { verify: true });
    await storage.put('doc', Buffer.alloc(1024, 'b'));
    const old = await readAll(reading.body);
    assert.equal(old.length, 256 * 1024);
    assert.ok(old.every((byte) => byte === 'a'.charCodeAt(0)));
  });

  test('concurrent puts of one key leave exactly one intact version', async () => {
    const dir = join(root, 'concurrent');
    const storage = new LocalDiskStorage({ root: dir });
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(`version ${i} `.repeat(100)));
    await Promise.all(bodies.map((body) => storage.put('same', body)));
    const got = await storage.get('same', { verify: true });
    const content = await readAll(got.body);
    assert.ok(bodies.some((body) => body.equals(content)));
    const blobs = (await walk(dir)).filter((file) => relative(dir, file).startsWith('blobs'));
    assert.equal(blobs.length, 1);
  });

  test('lists in S3 byte order where directory order would differ', async () => {
    const storage = new LocalDiskStorage({ root: join(root, 'order') });
    for (const key of ['p/a/1', 'p/a-x', 'p/a.b', 'p/ab', 'p/a']) await storage.put(key, Buffer.from(key));
    assert.deepEqual(await listKeys(storage, 'p/a'), ['p/a', 'p/a-x', 'p/a.b', 'p/a/1', 'p/ab']);
  });

  test('rejects a key segment too long for a file name', async () => {
    const storage = new LocalDiskStorage({ root: join(root, 'long') });
    await assert.rejects(storage.put(`dir/${'é'.repeat(100)}`, Buffer.from('x')), /too long for local disk/);
  });

  test('check() reports a root that cannot be used', async () => {
    const blocker = join(root, 'not-a-dir');
    await writeFile(blocker, 'a file where the root should be');
    const storage = new LocalDiskStorage({ root: blocker });
    await assert.rejects(storage.check(), StorageUnavailableError);
  });
});

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const dirent of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, dirent.name);
    if (dirent.isDirectory()) out.push(...(await walk(full)));
    else out.push(full);
  }
  return out.sort();
}
