import type { Principal } from '../../platform/auth/port.js';
import type { Queryable } from '../../platform/db/types.js';
import { errors } from '../../platform/http/errors.js';
import { violatedRule } from './access-rules.js';
import { auditEntry, cacheKeys, publish, userActor, type AuthDeps, type RequestMeta } from './deps.js';
import { AccountService } from './account.js';
import { Authenticator } from './guards.js';
import { Totp } from './mfa.js';
import { ClientDirectory } from './oauth.js';
import { PasswordHasher } from './passwords.js';
import { opaqueToken, sha256 } from './secrets.js';
import { rulesOfUser, SessionStore, type RequiredAction } from './sessions.js';
import { AccessTokens, unauthorized } from './tokens.js';

export interface TokenSet {
  status: 'authenticated';
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  refreshToken: string;
  sessionId: string;
  /** What the user must do before the session holds any permission. */
  requiredActions: RequiredAction[];
}

export interface MfaChallenge {
  status: 'mfa_required';
  challengeToken: string;
  expiresIn: number;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  status: 'active' | 'locked' | 'disabled';
  must_change_password: boolean;
  failed_logins: number;
  lockouts: number;
  locked_until: Date | null;
  password_hash: string | null;
}

const INVALID_LOGIN = 'Invalid email or password, or the account cannot sign in now';

/** The identity use cases: sign-in, MFA, sessions, passwords, break-glass. */
export class AuthService {
  readonly tokens: AccessTokens;
  readonly sessions: SessionStore;
  readonly totp: Totp;
  readonly clients: ClientDirectory;
  readonly hasher: PasswordHasher;
  readonly guards: Authenticator;
  /** Password change and reset, MFA enrolment and step-up. */
  readonly account: AccountService;

  constructor(readonly deps: AuthDeps) {
    this.tokens = new AccessTokens(deps.keyring, deps.options);
    this.sessions = new SessionStore(deps);
    this.totp = new Totp(deps.keyring);
    this.clients = new ClientDirectory(deps, this.tokens);
    this.hasher = new PasswordHasher(deps.options.passwordHash);
    this.guards = new Authenticator(deps, this.tokens, this.sessions, this.clients);
    this.account = new AccountService(this);
  }

  async findUserByEmail(q: Queryable, email: string): Promise<UserRow | undefined> {
    const result = await q.query<UserRow>(
      `SELECT u.id, u.email, u.name, u.status, u.must_change_password, u.failed_logins, u.lockouts,
              u.locked_until, c.password_hash
         FROM auth_users u LEFT JOIN auth_credentials c ON c.user_id = u.id
        WHERE lower(u.email) = lower($1)`,
      [email.trim()],
    );
    return result.rows[0];
  }

  async findUser(q: Queryable, id: string): Promise<UserRow> {
    const result = await q.query<UserRow>(
      `SELECT u.id, u.email, u.name, u.status, u.must_change_password, u.failed_logins, u.lockouts,
              u.locked_until, c.password_hash
         FROM auth_users u LEFT JOIN auth_credentials c ON c.user_id = u.id WHERE u.id = $1`,
      [id],
    );
    const row = result.rows[0];
    if (!row) throw unauthorized();
    return row;
  }

  /**
   * Password sign-in. Unknown email, wrong password, locked and disabled accounts all get the
   * same 401 after the same hashing work, so the answer tells an attacker nothing.
   */
  async login(email: string, password: string, meta: RequestMeta): Promise<TokenSet | MfaChallenge> {
    await this.checkAddressBlock(meta.ip);
    const user = await this.findUserByEmail(this.deps.db, email);
    if (!user?.password_hash) {
      await this.hasher.verifyDummy(password);
      await this.loginFailed(null, meta, 'unknown_account', false);
      throw unauthorized(INVALID_LOGIN);
    }
    const ok = await this.hasher.verify(user.password_hash, password);
    const now = Date.now();
    const locked = user.status === 'locked' && (!user.locked_until || user.locked_until.getTime() > now);
    if (user.status === 'disabled' || locked) {
      await this.loginFailed(user, meta, user.status === 'disabled' ? 'disabled' : 'locked', false);
      throw unauthorized(INVALID_LOGIN);
    }
    if (!ok) {
      await this.loginFailed(user, meta, 'bad_password', true);
      throw unauthorized(INVALID_LOGIN);
    }
    await this.checkRules(user.id, meta);
    if (this.hasher.needsRehash(user.password_hash)) {
      await this.deps.db.query('UPDATE auth_credentials SET password_hash = $2 WHERE user_id = $1', [
        user.id,
        await this.hasher.hash(password),
      ]);
    }
    if ((await this.totp.status(this.deps.db, user.id)) === 'confirmed') {
      const challengeToken = opaqueToken('imc');
      const ttl = this.deps.options.mfaChallengeTtlSeconds;
      await this.deps.cache.set(
        cacheKeys(this.deps.options.cacheNamespace).challenge(sha256(challengeToken)),
        { userId: user.id },
        ttl,
      );
      return { status: 'mfa_required', challengeToken, expiresIn: ttl };
    }
    return this.signIn(user.id, meta, 'password', false);
  }

  /** Second step of a sign-in with MFA: a TOTP code or a recovery code against the challenge. */
  async completeMfaLogin(
    challengeToken: string,
    proof: { code?: string; recoveryCode?: string },
    meta: RequestMeta,
  ): Promise<TokenSet> {
    const key = cacheKeys(this.deps.options.cacheNamespace).challenge(sha256(challengeToken));
    const challenge = await this.deps.cache.get<{ userId: string }>(key);
    if (!challenge) throw unauthorized('The MFA challenge is invalid or expired; sign in again');
    const tries = await this.deps.cache.incr(
      cacheKeys(this.deps.options.cacheNamespace).challengeTries(sha256(challengeToken)),
      this.deps.options.mfaChallengeTtlSeconds,
    );
    if (tries > 5) {
      await this.deps.cache.delete(key);
      throw unauthorized('Too many wrong codes; sign in again');
    }
    const user = await this.findUser(this.deps.db, challenge.userId);
    const ok = proof.code
      ? await this.totp.verify(this.deps.db, user.id, proof.code)
      : proof.recoveryCode
        ? await this.totp.useRecoveryCode(this.deps.db, user.id, proof.recoveryCode)
        : false;
    const locked =
      user.status === 'locked' && (!user.locked_until || user.locked_until.getTime() > Date.now());
    if (!ok || user.status === 'disabled' || locked) {
      await this.loginFailed(user, meta, 'bad_mfa_code', true);
      throw unauthorized('The code is not valid');
    }
    await this.deps.cache.delete(key);
    // The second step may come from elsewhere than the first: the rules apply again.
    await this.checkRules(user.id, meta);
    return this.signIn(user.id, meta, proof.code ? 'password+totp' : 'password+recovery_code', true);
  }

  private async signIn(
    userId: string,
    meta: RequestMeta,
    method: string,
    mfaVerified: boolean,
  ): Promise<TokenSet> {
    const { sessionId, refreshToken } = await this.deps.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE auth_users SET failed_logins = 0, last_login_at = now(),
           status = CASE WHEN status = 'locked' THEN 'active' ELSE status END, locked_until = NULL
         WHERE id = $1`,
        [userId],
      );
      await tx.query(
        'INSERT INTO auth_login_attempts (user_id, ip, success, reason) VALUES ($1, $2, true, $3)',
        [userId, meta.ip, method],
      );
      const session = await this.sessions.create(tx, userId, meta, { kind: 'password', mfaVerified });
      await publish(
        this.deps,
        tx,
        'user.authenticated',
        userActor(userId),
        { type: 'User', id: userId },
        {
          userId,
          sessionId: session.sessionId,
          method,
          ip: meta.ip,
        },
        meta.requestId,
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'auth.login',
          outcome: 'success',
          actor: userActor(userId),
          resource: { type: 'Session', id: session.sessionId },
          details: { method },
        }),
        tx,
      );
      return session;
    });
    return this.tokenSet(userId, sessionId, refreshToken ?? '');
  }

  private async tokenSet(userId: string, sessionId: string, refreshToken: string): Promise<TokenSet> {
    const access = await this.tokens.sign(
      { sub: userId, pty: 'user', sid: sessionId },
      this.deps.options.accessTokenTtlSeconds,
    );
    const snap = await this.sessions.snapshot(sessionId);
    return {
      status: 'authenticated',
      accessToken: access.token,
      tokenType: 'Bearer',
      expiresIn: access.expiresIn,
      refreshToken,
      sessionId,
      requiredActions: snap?.requiredActions ?? [],
    };
  }

  async refresh(refreshToken: string, meta: RequestMeta): Promise<TokenSet> {
    const rotated = await this.sessions.rotate(refreshToken, meta);
    return this.tokenSet(rotated.userId, rotated.sessionId, rotated.refreshToken);
  }

  async logout(principal: Principal, all: boolean, meta: RequestMeta): Promise<number> {
    const revoked = await this.deps.db.transaction((tx) =>
      all
        ? this.sessions.revokeWhere(
            tx,
            'user_id = $1',
            [principal.id],
            'logout_all',
            userActor(principal.id),
            meta,
          )
        : this.sessions.revokeWhere(
            tx,
            'id = $1',
            [principal.sessionId],
            'logout',
            userActor(principal.id),
            meta,
          ),
    );
    return revoked.length;
  }

  async revokeOwnSession(principal: Principal, sessionId: string, meta: RequestMeta): Promise<void> {
    const revoked = await this.deps.db.transaction((tx) =>
      this.sessions.revokeWhere(
        tx,
        'id = $1 AND user_id = $2',
        [sessionId, principal.id],
        'revoked_by_user',
        userActor(principal.id),
        meta,
      ),
    );
    if (revoked.length === 0) throw errors.notFound('No such live session of yours');
  }

  /** Applies the time and network rules of the user and their roles at sign-in. */
  private async checkRules(userId: string, meta: RequestMeta): Promise<void> {
    const broken = violatedRule(await rulesOfUser(this.deps.db, userId), meta.ip, new Date());
    if (!broken) return;
    await this.loginFailed({ id: userId }, meta, `rule_${broken}`, false);
    throw errors.forbidden(
      broken === 'hours' ? 'Sign-in is not allowed at this time' : 'Sign-in is not allowed from this network',
    );
  }

  /** 429 while an address is blocked for repeated failures. */
  private async checkAddressBlock(ip: string): Promise<void> {
    const until = await this.deps.cache.get<number>(cacheKeys(this.deps.options.cacheNamespace).ipBlock(ip));
    if (until && until > Date.now()) {
      const seconds = Math.ceil((until - Date.now()) / 1000);
      throw errors.tooManyRequests('Too many failed sign-ins from this address; try again later', [], {
        'retry-after': String(seconds),
      });
    }
  }

  /**
   * Records a failed sign-in; counts it against the account (locking it for a doubling time after
   * `threshold` failures) and against the address (blocking it likewise).
   */
  private async loginFailed(
    user: Pick<UserRow, 'id'> | null,
    meta: RequestMeta,
    reason: string,
    countAccount: boolean,
  ) {
    const { accountLockout } = this.deps.options;
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        'INSERT INTO auth_login_attempts (user_id, ip, success, reason) VALUES ($1, $2, false, $3)',
        [user?.id ?? null, meta.ip, reason],
      );
      const actor = user ? userActor(user.id) : null;
      if (user && countAccount) {
        const counted = await tx.query<{ failed_logins: number; lockouts: number }>(
          'UPDATE auth_users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins, lockouts',
          [user.id],
        );
        const row = counted.rows[0];
        if (row && row.failed_logins >= accountLockout.threshold) {
          const seconds = Math.min(accountLockout.maxSeconds, accountLockout.baseSeconds * 2 ** row.lockouts);
          await tx.query(
            `UPDATE auth_users SET status = 'locked', failed_logins = 0, lockouts = lockouts + 1,
               locked_until = now() + make_interval(secs => $2), updated_at = now()
             WHERE id = $1 AND status <> 'disabled'`,
            [user.id, seconds],
          );
          await publish(
            this.deps,
            tx,
            'user.locked',
            null,
            { type: 'User', id: user.id },
            {
              userId: user.id,
              lockedForSeconds: seconds,
              ip: meta.ip,
            },
            meta.requestId,
          );
        }
      }
      await publish(
        this.deps,
        tx,
        'user.login_failed',
        actor,
        { type: 'User', id: user?.id ?? 'unknown' },
        {
          userId: user?.id ?? null,
          reason,
          ip: meta.ip,
        },
        meta.requestId,
      );
      await this.deps.audit.record(
        auditEntry(meta, { action: 'auth.login', outcome: 'failure', actor, details: { reason } }),
        tx,
      );
    });
    const { ipLockout } = this.deps.options;
    const failures = await this.deps.cache.incr(
      cacheKeys(this.deps.options.cacheNamespace).ipFailures(meta.ip),
      ipLockout.windowSeconds,
    );
    if (failures >= ipLockout.threshold) {
      const level = await this.deps.cache.incr(
        cacheKeys(this.deps.options.cacheNamespace).ipLevel(meta.ip),
        86_400,
      );
      const seconds = Math.min(ipLockout.maxSeconds, ipLockout.baseSeconds * 2 ** (level - 1));
      await this.deps.cache.set(
        cacheKeys(this.deps.options.cacheNamespace).ipBlock(meta.ip),
        Date.now() + seconds * 1000,
        seconds,
      );
      await this.deps.cache.delete(cacheKeys(this.deps.options.cacheNamespace).ipFailures(meta.ip));
    }
  }
}
