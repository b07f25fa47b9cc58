import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { Keyring } from '../../platform/crypto/keyring.js';
import { openSecret, sealSecret } from '../../platform/crypto/sealed.js';
import type { Queryable } from '../../platform/db/types.js';
import { normalizeRecoveryCode, recoveryCode, sha256 } from './secrets.js';

const ISSUER = 'IRIS Health';
const PERIOD = 30;
/** One step either side for clock drift between phone and server. */
const WINDOW = 1;
export const RECOVERY_CODE_COUNT = 10;

function totp(secret: Secret, label: string): TOTP {
  return new TOTP({ issuer: ISSUER, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret });
}

export interface Enrollment {
  secret: string;
  otpauthUri: string;
  qrDataUrl: string;
}

/** TOTP (RFC 6238) secrets, encrypted at rest, with replay protection and recovery codes. */
export class Totp {
  constructor(private readonly keyring: Keyring) {}

  /** Starts (or restarts, while unconfirmed) an enrolment; the secret is stored encrypted. */
  async begin(q: Queryable, userId: string, label: string): Promise<Enrollment> {
    const secret = new Secret({ size: 20 });
    const sealed = sealSecret(this.keyring, secret.base32, userId);
    await q.query(
      `INSERT INTO auth_mfa_totp (user_id, key_id, secret_enc) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET key_id = $2, secret_enc = $3, confirmed_at = NULL,
         last_counter = NULL, created_at = now()`,
      [userId, sealed.kid, sealed.value],
    );
    const otpauthUri = totp(secret, label).toString();
    return { secret: secret.base32, otpauthUri, qrDataUrl: await QRCode.toDataURL(otpauthUri) };
  }

  async status(q: Queryable, userId: string): Promise<'none' | 'pending' | 'confirmed'> {
    const result = await q.query<{ confirmed_at: Date | null }>(
      'SELECT confirmed_at FROM auth_mfa_totp WHERE user_id = $1',
      [userId],
    );
    const row = result.rows[0];
    return !row ? 'none' : row.confirmed_at ? 'confirmed' : 'pending';
  }

  /**
   * Checks a code and consumes its time step: a code (or any earlier one) that was accepted once
   * is refused afterwards, so an intercepted code cannot be replayed within its window.
   */
  async verify(q: Queryable, userId: string, code: string): Promise<boolean> {
    if (!/^\d{6}$/.test(code)) return false;
    const found = await q.query<{ key_id: string; secret_enc: string }>(
      'SELECT key_id, secret_enc FROM auth_mfa_totp WHERE user_id = $1',
      [userId],
    );
    const row = found.rows[0];
    if (!row) return false;
    const secret = Secret.fromBase32(
      openSecret(this.keyring, { kid: row.key_id, value: row.secret_enc }, userId),
    );
    const now = Date.now();
    const delta = TOTP.validate({ token: code, secret, period: PERIOD, window: WINDOW, timestamp: now });
    if (delta === null) return false;
    const counter = TOTP.counter({ period: PERIOD, timestamp: now }) + delta;
    const used = await q.query(
      `UPDATE auth_mfa_totp SET last_counter = $2
        WHERE user_id = $1 AND (last_counter IS NULL OR last_counter < $2)`,
      [userId, counter],
    );
    return used.rowCount === 1;
  }

  /** Marks the enrolment confirmed and issues fresh recovery codes (shown once). */
  async confirm(q: Queryable, userId: string): Promise<string[]> {
    await q.query('UPDATE auth_mfa_totp SET confirmed_at = now() WHERE user_id = $1', [userId]);
    return this.newRecoveryCodes(q, userId);
  }

  async newRecoveryCodes(q: Queryable, userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => recoveryCode());
    await q.query('DELETE FROM auth_mfa_recovery_codes WHERE user_id = $1', [userId]);
    await q.query('INSERT INTO auth_mfa_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::text[])', [
      userId,
      codes.map((c) => sha256(normalizeRecoveryCode(c))),
    ]);
    return codes;
  }

  /** Consumes a recovery code; each works once. */
  async useRecoveryCode(q: Queryable, userId: string, code: string): Promise<boolean> {
    const result = await q.query(
      `UPDATE auth_mfa_recovery_codes SET used_at = now()
        WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
      [userId, sha256(normalizeRecoveryCode(code))],
    );
    return result.rowCount === 1;
  }

  async remove(q: Queryable, userId: string): Promise<void> {
    await q.query('DELETE FROM auth_mfa_totp WHERE user_id = $1', [userId]);
    await q.query('DELETE FROM auth_mfa_recovery_codes WHERE user_id = $1', [userId]);
  }
}
