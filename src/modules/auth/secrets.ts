import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  randomInt,
  timingSafeEqual,
} from 'node:crypto';
import type { Keyring } from '../../platform/crypto/keyring.js';

/** An opaque bearer secret: 256 random bits, with a prefix that says what it is. */
export function opaqueToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Opaque secrets carry 256 bits of entropy, so a fast hash is enough to store them. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function equalSecrets(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const GENERATED_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A generated password: 20 characters from 57 symbols (about 116 bits). */
export function generatePassword(length = 20): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)];
  return out;
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A recovery code such as `K7QM-2ZP4-XW9D-H3TA` (80 bits). */
export function recoveryCode(): string {
  const groups: string[] = [];
  for (let g = 0; g < 4; g += 1) {
    let group = '';
    for (let i = 0; i < 4; i += 1) group += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}

export function normalizeRecoveryCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

/** AES-256-GCM under the keyring's active data-encryption key, bound to `context` (e.g. a user id). */
export function encryptSecret(
  keyring: Keyring,
  plaintext: string,
  context: string,
): { kid: string; value: string } {
  const key = keyring.active('data-encryption');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { kid: key.kid, value: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url') };
}

export function decryptSecret(keyring: Keyring, kid: string, value: string, context: string): string {
  const key = keyring.find('data-encryption', kid);
  if (!key) throw new Error(`data-encryption key ${kid} is not in the keyring`);
  const raw = Buffer.from(value, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key.key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
