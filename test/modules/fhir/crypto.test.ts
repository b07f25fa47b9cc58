import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BlindIndex,
  CryptoError,
  normalizeString,
  ResourceCipher,
} from '../../../src/modules/fhir/crypto.js';
import { Keyring } from '../../../src/platform/crypto/keyring.js';

describe('FHIR envelope encryption and blind indexes', () => {
  let dir: string;
  let keyring: Keyring;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iris-fhir-crypto-'));
    keyring = await Keyring.open(dir, { create: true });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('seal/open round-trips and the ciphertext holds no plain text', () => {
    const cipher = new ResourceCipher(keyring);
    const json = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Secretson' }] });
    const sealed = cipher.seal('Patient', 'p1', 1, json);
    assert.equal(sealed.kid, keyring.active('data-encryption').kid);
    assert.ok(!sealed.content.toString('latin1').includes('Secretson'));
    assert.equal(cipher.open('Patient', 'p1', 1, sealed), json);
  });

  test('each record gets its own data key: the same content encrypts differently', () => {
    const cipher = new ResourceCipher(keyring);
    const a = cipher.seal('Patient', 'p1', 1, '{}');
    const b = cipher.seal('Patient', 'p1', 1, '{}');
    assert.notDeepEqual(a.wrappedKey, b.wrappedKey);
    assert.notDeepEqual(a.content, b.content);
  });

  test('a row moved to another type, id or version fails authentication', () => {
    const cipher = new ResourceCipher(keyring);
    const sealed = cipher.seal('Patient', 'p1', 1, '{"a":1}');
    assert.throws(() => cipher.open('Patient', 'p2', 1, sealed), CryptoError);
    assert.throws(() => cipher.open('Patient', 'p1', 2, sealed), CryptoError);
    assert.throws(() => cipher.open('Observation', 'p1', 1, sealed), CryptoError);
  });

  test('after a KEK rotation old records still open, and re-wrap moves them to the new key', async () => {
    const cipher = new ResourceCipher(keyring);
    const sealed = cipher.seal('Patient', 'rot', 1, '{"r":true}');
    const newKey = await keyring.rotate('data-encryption');
    assert.equal(cipher.open('Patient', 'rot', 1, sealed), '{"r":true}');
    const moved = cipher.rewrap('Patient', 'rot', 1, sealed);
    assert.equal(moved.kid, newKey.kid);
    assert.deepEqual(moved.content, sealed.content);
    assert.equal(cipher.open('Patient', 'rot', 1, moved), '{"r":true}');
  });

  test('blind indexes are keyed, domain-separated, and searchable across a key rotation', async () => {
    const blind = new BlindIndex(keyring);
    const family = blind.of('s|Patient|family', 'smith');
    assert.notEqual(family, blind.of('s|Patient|given', 'smith'));
    assert.ok(!family.includes('smith'));
    await keyring.rotate('blind-index');
    assert.ok(blind.candidates('s|Patient|family', 'smith').includes(family));
    assert.notEqual(blind.of('s|Patient|family', 'smith'), family);
  });

  test('string normalisation folds case, accents and spacing', () => {
    assert.equal(normalizeString('  Zoë   MÜLLER '), 'zoe muller');
  });
});
