import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from './keyring.js';

/** A secret sealed with AES-256-GCM under a keyring data-encryption key (`kid`). */
export interface SealedSecret {
  kid: string;
  value: string;
}

/**
 * Seals a small secret (a password, a client secret) for storage. `context` is bound as
 * associated data, so a sealed value copied to another row (another id) does not open.
 */
export function sealSecret(keyring: Keyring, plaintext: string, context: string): SealedSecret {
  const key = keyring.active('data-encryption');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { kid: key.kid, value: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url') };
}

export function openSecret(keyring: Keyring, sealed: SealedSecret, context: string): string {
  const key = keyring.find('data-encryption', sealed.kid);
  if (!key) throw new Error(`data-encryption key ${sealed.kid} is not in the keyring`);
  const raw = Buffer.from(sealed.value, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key.key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
