import assert from 'node:assert/strict';
import { createSign, createVerify, sign, verify } from 'node:crypto';
import { chmod, mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KEY_PURPOSES, Keyring } from '../../../src/platform/crypto/keyring.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'iris-keys-'));

describe('keyring', () => {
  test('development creates one private (0600) key per purpose and reuses them', async () => {
    const dir = await tempDir();
    const first = await Keyring.open(dir, { create: true });
    for (const purpose of Object.keys(KEY_PURPOSES)) {
      const files = await readdir(join(dir, purpose));
      assert.equal(files.length, 1, purpose);
      assert.equal((await stat(join(dir, purpose, files[0]!))).mode & 0o777, 0o600);
    }
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const second = await Keyring.open(dir, { create: true });
    assert.equal(second.active('token-signing').kid, first.active('token-signing').kid);
    assert.equal(second.active('data-encryption').kid, first.active('data-encryption').kid);
  });

  test('keys are usable for their purpose', async () => {
    const ring = await Keyring.open(await tempDir(), { create: true });
    const rsa = ring.active('token-signing');
    const signature = createSign('SHA256').update('payload').sign(rsa.key);
    assert.ok(createVerify('SHA256').update('payload').verify(rsa.publicKey!, signature));
    const ed = ring.active('audit-signing');
    assert.ok(verify(null, Buffer.from('root'), ed.publicKey!, sign(null, Buffer.from('root'), ed.key)));
    assert.equal(ring.active('data-encryption').key.symmetricKeySize, 32);
    assert.equal(ring.active('blind-index').key.symmetricKeySize, 32);
  });

  test('without create, a missing keyring is refused naming what is missing', async () => {
    const dir = await tempDir();
    await assert.rejects(Keyring.open(dir, { create: false }), (error: Error) => {
      assert.equal(error.name, 'KeyringError');
      assert.match(error.message, /access-token signing \(RS256\)/);
      assert.match(error.message, /PHI key-encryption key/);
      assert.match(error.message, /iris keys init/);
      return true;
    });
    await Keyring.init(dir);
    const ring = await Keyring.open(dir, { create: false });
    assert.ok(ring.active('blind-index'));
  });

  test('rotation adds a new active key and keeps the old one for verification', async () => {
    const dir = await tempDir();
    const ring = await Keyring.open(dir, { create: true });
    const old = ring.active('token-signing');
    const next = await ring.rotate('token-signing');
    assert.notEqual(next.kid, old.kid);
    assert.equal(ring.active('token-signing').kid, next.kid);
    assert.equal(ring.find('token-signing', old.kid)?.kid, old.kid);
    const reopened = await Keyring.open(dir, { create: false });
    assert.equal(reopened.active('token-signing').kid, next.kid);
    assert.equal(reopened.list('token-signing').length, 2);
  });

  test('strict mode refuses key files other users can read', async () => {
    const dir = await tempDir();
    await Keyring.init(dir);
    const folder = join(dir, 'blind-index');
    const [file] = await readdir(folder);
    await chmod(join(folder, file!), 0o644);
    await assert.rejects(
      Keyring.open(dir, { create: false, strictPermissions: true }),
      /readable by other users/,
    );
  });
});
