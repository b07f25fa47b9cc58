import { createCipheriv, createDecipheriv, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Keyring } from '../../platform/crypto/keyring.js';

/** One encrypted resource version as stored: the data key wrapped by the keyring's KEK. */
export interface Sealed {
  kid: string;
  /** IV (12) ‖ tag (16) ‖ wrapped 32-byte data key. */
  wrappedKey: Buffer;
  iv: Buffer;
  /** Ciphertext ‖ tag (16). */
  content: Buffer;
}

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
}

const TAG = 16;

/** Binds a ciphertext to where it belongs: a row copied to another resource or version fails. */
function associatedData(resourceType: string, id: string, version: number): Buffer {
  return Buffer.from(`iris-fhir|${resourceType}|${id}|${version}`, 'utf8');
}

function gcmEncrypt(key: Buffer | KeyObject, plain: Buffer, aad: Buffer) {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { iv, sealed: Buffer.concat([body, cipher.getAuthTag()]) };
}

function gcmDecrypt(key: Buffer | KeyObject, iv: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG)), decipher.final()]);
}

/**
 * AES-256-GCM envelope encryption: a fresh data key per record encrypts the JSON; the active
 * `data-encryption` key of the keyring wraps the data key. Both layers carry the same
 * associated data (type, id, version).
 */
export class ResourceCipher {
  constructor(private readonly keyring: Keyring) {}

  /** Compresses then encrypts (JSON shrinks several-fold; the database moves fewer bytes). */
  seal(resourceType: string, id: string, version: number, json: string): Sealed {
    const kek = this.keyring.active('data-encryption');
    const aad = associatedData(resourceType, id, version);
    const dataKey = randomBytes(32);
    const body = gcmEncrypt(dataKey, deflateRawSync(Buffer.from(json, 'utf8'), { level: 1 }), aad);
    const wrap = gcmEncrypt(kek.key, dataKey, Buffer.concat([aad, Buffer.from(`|${kek.kid}`)]));
    dataKey.fill(0);
    return {
      kid: kek.kid,
      wrappedKey: Buffer.concat([wrap.iv, wrap.sealed]),
      iv: body.iv,
      content: body.sealed,
    };
  }

  open(resourceType: string, id: string, version: number, sealed: Sealed): string {
    const kek = this.keyring.find('data-encryption', sealed.kid);
    if (!kek) throw new CryptoError(`data-encryption key ${sealed.kid} is not in the keyring`);
    const aad = associatedData(resourceType, id, version);
    try {
      const dataKey = gcmDecrypt(
        kek.key,
        sealed.wrappedKey.subarray(0, 12),
        sealed.wrappedKey.subarray(12),
        Buffer.concat([aad, Buffer.from(`|${sealed.kid}`)]),
      );
      const plain = gcmDecrypt(dataKey, sealed.iv, sealed.content, aad);
      dataKey.fill(0);
      return inflateRawSync(plain).toString('utf8');
    } catch {
      throw new CryptoError(`${resourceType}/${id}/_history/${version} failed authentication`);
    }
  }

  /** Re-wraps the data key under the active KEK without touching the content (key rotation). */
  rewrap(resourceType: string, id: string, version: number, sealed: Sealed): Sealed {
    const old = this.keyring.find('data-encryption', sealed.kid);
    const kek = this.keyring.active('data-encryption');
    if (!old) throw new CryptoError(`data-encryption key ${sealed.kid} is not in the keyring`);
    const aad = associatedData(resourceType, id, version);
    const dataKey = gcmDecrypt(
      old.key,
      sealed.wrappedKey.subarray(0, 12),
      sealed.wrappedKey.subarray(12),
      Buffer.concat([aad, Buffer.from(`|${sealed.kid}`)]),
    );
    const wrap = gcmEncrypt(kek.key, dataKey, Buffer.concat([aad, Buffer.from(`|${kek.kid}`)]));
    dataKey.fill(0);
    return { ...sealed, kid: kek.kid, wrappedKey: Buffer.concat([wrap.iv, wrap.sealed]) };
  }
}

/**
 * Keyed HMAC blind indexes. Each value is bound to its resource type and search parameter so
 * equal names in different fields do not produce equal index values. New rows use the active
 * `blind-index` key; searches compute the value under every loaded key so rows written before
 * a rotation stay findable until they are re-indexed.
 */
export class BlindIndex {
  constructor(private readonly keyring: Keyring) {}

  /** The index value written now. */
  of(domain: string, value: string): string {
    return this.mac(this.keyring.active('blind-index').key, domain, value);
  }

  /** Every value a stored row may carry for `value` (one per loaded key). */
  candidates(domain: string, value: string): string[] {
    return this.keyring.list('blind-index').map((k) => this.mac(k.key, domain, value));
  }

  private mac(key: KeyObject, domain: string, value: string): string {
    return createHmac('sha256', key).update(`${domain}\u0000${value}`).digest('base64url').slice(0, 27);
  }
}

/** Case- and accent-insensitive form of a string search value (the FHIR default match). */
export function normalizeString(value: string): string {
  return value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}
