import type { Principal } from '../../platform/auth/port.js';
import type { Queryable } from '../../platform/db/types.js';
import { errors } from '../../platform/http/errors.js';
import { auditEntry, publish, userActor, type RequestMeta } from './deps.js';
import type { Enrollment } from './mfa.js';
import { checkPasswordPolicy } from './passwords.js';
import { opaqueToken, sha256 } from './secrets.js';
import type { AuthService } from './service.js';

/** What a signed-in user does to their own credentials: password, reset, MFA. */
export class AccountService {
  constructor(private readonly auth: AuthService) {}

  private get deps() {
    return this.auth.deps;
  }

  async changePassword(
    principal: Principal,
    current: string,
    next: string,
    meta: RequestMeta,
  ): Promise<void> {
    const user = await this.auth.findUser(this.deps.db, principal.id);
    if (!user.password_hash || !(await this.auth.hasher.verify(user.password_hash, current)))
      throw errors.forbidden('The current password is not correct');
    if (current === next) throw errors.unprocessable('The new password must differ from the current one');
    checkPasswordPolicy(next, [user.email, user.name]);
    const hash = await this.auth.hasher.hash(next);
    await this.deps.db.transaction(async (tx) => {
      await this.setPassword(tx, user.id, hash);
      // Other sessions may belong to whoever knew the old password.
      await this.auth.sessions.revokeWhere(
        tx,
        'user_id = $1 AND id IS DISTINCT FROM $2::uuid',
        [user.id, principal.sessionId ?? null],
        'password_changed',
        userActor(user.id),
        meta,
      );
      await this.deps.audit.record(
        auditEntry(meta, { action: 'auth.password_changed', outcome: 'success', actor: userActor(user.id) }),
        tx,
      );
    });
    if (principal.sessionId) await this.auth.sessions.forget([principal.sessionId]);
  }

  async setPassword(q: Queryable, userId: string, hash: string): Promise<void> {
    await q.query(
      `INSERT INTO auth_credentials (user_id, password_hash) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET password_hash = $2, changed_at = now()`,
      [userId, hash],
    );
    await q.query('UPDATE auth_users SET must_change_password = false, updated_at = now() WHERE id = $1', [
      userId,
    ]);
  }

  /** Always accepted, whether or not the address has an account; the link goes by mail. */
  async requestPasswordReset(email: string, meta: RequestMeta): Promise<void> {
    const user = await this.auth.findUserByEmail(this.deps.db, email);
    if (!user || user.status === 'disabled') return;
    const token = opaqueToken('iprt');
    const ttl = this.deps.options.resetTokenTtlSeconds;
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO auth_password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`,
        [sha256(token), user.id, ttl],
      );
      await this.deps.mail.send(
        {
          to: user.email,
          subject: 'Reset your IRIS Health password',
          text: `Reset your password at ${this.deps.options.resetUrl}#token=${token} (valid ${Math.round(ttl / 60)} minutes, once).`,
        },
        tx,
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'auth.password_reset_requested',
          outcome: 'success',
          actor: userActor(user.id),
        }),
        tx,
      );
    });
  }

  /** Sets a new password from a reset token: single use, short-lived; every session is revoked. */
  async resetPassword(token: string, next: string, meta: RequestMeta): Promise<void> {
    const found = await this.deps.db.query<{ user_id: string; email: string; name: string }>(
      `SELECT r.user_id, u.email, u.name FROM auth_password_resets r JOIN auth_users u ON u.id = r.user_id
        WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now() AND u.status <> 'disabled'`,
      [sha256(token)],
    );
    const row = found.rows[0];
    if (!row) throw errors.badRequest('The reset link is invalid, used or expired; request a new one');
    checkPasswordPolicy(next, [row.email, row.name]);
    const hash = await this.auth.hasher.hash(next);
    await this.deps.db.transaction(async (tx) => {
      const used = await tx.query(
        'UPDATE auth_password_resets SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL',
        [sha256(token)],
      );
      if (used.rowCount !== 1)
        throw errors.badRequest('The reset link is invalid, used or expired; request a new one');
      await tx.query(
        'UPDATE auth_password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL',
        [row.user_id],
      );
      await this.setPassword(tx, row.user_id, hash);
      await tx.query(
        `UPDATE auth_users SET failed_logins = 0, locked_until = NULL,
           status = CASE WHEN status = 'locked' THEN 'active' ELSE status END WHERE id = $1`,
        [row.user_id],
      );
      await this.auth.sessions.revokeWhere(
        tx,
        'user_id = $1',
        [row.user_id],
        'password_reset',
        userActor(row.user_id),
        meta,
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'auth.password_reset',
          outcome: 'success',
          actor: userActor(row.user_id),
        }),
        tx,
      );
    });
  }

  async enrollMfa(principal: Principal, password: string): Promise<Enrollment> {
    const user = await this.auth.findUser(this.deps.db, principal.id);
    if (!user.password_hash || !(await this.auth.hasher.verify(user.password_hash, password)))
      throw errors.forbidden('The password is not correct');
    if ((await this.auth.totp.status(this.deps.db, user.id)) === 'confirmed')
      throw errors.conflict('MFA is already enrolled; disable it first to enrol a new device');
    return this.auth.totp.begin(this.deps.db, user.id, user.email);
  }

  /**
   * Verifies a code in the current session: confirms a pending enrolment (returning recovery
   * codes, once) or refreshes the session's MFA time for step-up actions.
   */
  async verifyMfa(
    principal: Principal,
    code: string,
    meta: RequestMeta,
  ): Promise<{ recoveryCodes?: string[]; mfaVerifiedAt: Date }> {
    const status = await this.auth.totp.status(this.deps.db, principal.id);
    if (status === 'none')
      throw errors.conflict('MFA is not enrolled; start at POST /api/v1/auth/mfa/enroll');
    const result = await this.deps.db.transaction(async (tx) => {
      if (!(await this.auth.totp.verify(tx, principal.id, code))) return null;
      await tx.query('UPDATE auth_sessions SET mfa_verified_at = now() WHERE id = $1', [principal.sessionId]);
      if (status === 'confirmed') return {};
      const recoveryCodes = await this.auth.totp.confirm(tx, principal.id);
      await publish(
        this.deps,
        tx,
        'mfa.enrolled',
        userActor(principal.id),
        { type: 'User', id: principal.id },
        {
          userId: principal.id,
          method: 'totp',
        },
        meta.requestId,
      );
      await this.deps.audit.record(
        auditEntry(meta, { action: 'auth.mfa_enrolled', outcome: 'success', actor: userActor(principal.id) }),
        tx,
      );
      return { recoveryCodes };
    });
    if (!result) {
      await this.deps.audit.record(
        auditEntry(meta, { action: 'auth.mfa_verify', outcome: 'failure', actor: userActor(principal.id) }),
      );
      throw errors.forbidden('The code is not valid (or was already used)');
    }
    if (principal.sessionId) await this.auth.sessions.forget([principal.sessionId]);
    return { ...result, mfaVerifiedAt: new Date() };
  }

  async disableMfa(principal: Principal, password: string, code: string, meta: RequestMeta): Promise<void> {
    const user = await this.auth.findUser(this.deps.db, principal.id);
    const passwordOk = !!user.password_hash && (await this.auth.hasher.verify(user.password_hash, password));
    const codeOk = passwordOk && (await this.auth.totp.verify(this.deps.db, user.id, code));
    if (!codeOk) throw errors.forbidden('The password or the code is not correct');
    await this.deps.db.transaction(async (tx) => {
      await this.auth.totp.remove(tx, user.id);
      await publish(
        this.deps,
        tx,
        'mfa.disabled',
        userActor(user.id),
        { type: 'User', id: user.id },
        { userId: user.id },
        meta.requestId,
      );
      await this.deps.audit.record(
        auditEntry(meta, { action: 'auth.mfa_disabled', outcome: 'success', actor: userActor(user.id) }),
        tx,
      );
    });
    await this.auth.sessions.forgetUsers(this.deps.db, [user.id]);
  }

  async regenerateRecoveryCodes(principal: Principal, meta: RequestMeta): Promise<string[]> {
    if ((await this.auth.totp.status(this.deps.db, principal.id)) !== 'confirmed')
      throw errors.conflict('MFA is not enrolled');
    return this.deps.db.transaction(async (tx) => {
      const codes = await this.auth.totp.newRecoveryCodes(tx, principal.id);
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'auth.mfa_recovery_codes',
          outcome: 'success',
          actor: userActor(principal.id),
        }),
        tx,
      );
      return codes;
    });
  }
}
