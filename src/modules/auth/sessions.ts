import { randomUUID } from 'node:crypto';
import type { Queryable, Transaction } from '../../platform/db/types.js';
import type { AccessRule } from './access-rules.js';
import { auditEntry, cacheKeys, publish, type AuthDeps, type RequestMeta } from './deps.js';
import { effectiveAccess, userRoles, type RoleScope } from './rbac.js';
import { LocalSessionCache } from './session-cache.js';
import { opaqueToken, sha256 } from './secrets.js';
import { unauthorized } from './tokens.js';
import type { Actor } from '../../platform/events/port.js';

export type RequiredAction = 'change_password' | 'enroll_mfa';

/**
 * What a request needs to know about its session, cached for `sessionCacheSeconds` and dropped
 * at once when the session, the user's roles or the rules change. JSON-safe (times in ms).
 */
export interface SessionSnapshot {
  active: boolean;
  userId: string;
  expiresAt: number;
  roles: string[];
  permissions: string[];
  roleScopes: RoleScope[];
  organizationId: string | null;
  organizationIds: string[];
  careTeamPatientIds: string[];
  ownPatientId: string | null;
  breakGlass: Array<{ patientId: string; expiresAt: number }>;
  mfaVerifiedAt: number | null;
  /** Until all are done, the session holds no permission at all. */
  requiredActions: RequiredAction[];
  rules: AccessRule[];
}

export interface SessionInfo {
  id: string;
  kind: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

interface RuleRow {
  id: string;
  subject_type: 'role' | 'user';
  subject: string;
  kind: 'hours' | 'network';
  time_zone: string | null;
  days: number[] | null;
  start_minute: number | null;
  end_minute: number | null;
  cidrs: string[] | null;
  description: string;
}

export function ruleFromRow(r: RuleRow): AccessRule {
  return {
    id: r.id,
    subjectType: r.subject_type,
    subject: r.subject,
    kind: r.kind,
    timeZone: r.time_zone,
    days: r.days?.map(Number) ?? null,
    startMinute: r.start_minute,
    endMinute: r.end_minute,
    cidrs: r.cidrs,
    description: r.description,
  };
}

/** Rules of a user and of the roles they hold, in one query (sign-in). */
export async function rulesOfUser(q: Queryable, userId: string): Promise<AccessRule[]> {
  const result = await q.query<RuleRow>(
    `SELECT * FROM auth_access_rules
      WHERE (subject_type = 'user' AND subject = $1)
         OR (subject_type = 'role' AND subject IN (SELECT role FROM auth_user_roles WHERE user_id = $1::uuid))
      ORDER BY created_at`,
    [userId],
  );
  return result.rows.map(ruleFromRow);
}

/** Rules that apply to a user directly or through one of the roles. */
export async function rulesFor(q: Queryable, userId: string | null, roles: string[]): Promise<AccessRule[]> {
  const result = await q.query<RuleRow>(
    `SELECT * FROM auth_access_rules
      WHERE (subject_type = 'user' AND subject = $1) OR (subject_type = 'role' AND subject = ANY($2::text[]))
      ORDER BY created_at`,
    [userId ?? '', roles],
  );
  return result.rows.map(ruleFromRow);
}

export class SessionStore {
  private readonly local: LocalSessionCache<SessionSnapshot>;

  constructor(private readonly deps: AuthDeps) {
    this.local = new LocalSessionCache(
      deps.cache,
      deps.options.cacheNamespace,
      deps.options.sessionLocalCacheSeconds,
      deps.logger,
    );
  }

  /** Opens a session and its first refresh token (none for CLI sessions). */
  async create(
    tx: Transaction,
    userId: string,
    meta: RequestMeta,
    options: { kind: 'password' | 'cli'; mfaVerified: boolean },
  ): Promise<{ sessionId: string; refreshToken?: string }> {
    const sessionId = randomUUID();
    const expires = new Date(Date.now() + this.deps.options.sessionMaxAgeSeconds * 1000);
    await tx.query(
      `INSERT INTO auth_sessions (id, user_id, kind, expires_at, ip, user_agent, mfa_verified_at)
       VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::boolean THEN now() END)`,
      [
        sessionId,
        userId,
        options.kind,
        expires,
        meta.ip,
        meta.userAgent?.slice(0, 512) ?? null,
        options.mfaVerified,
      ],
    );
    if (options.kind === 'cli') return { sessionId };
    const refreshToken = opaqueToken('irt');
    await tx.query(
      'INSERT INTO auth_refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)',
      [sha256(refreshToken), sessionId, expires],
    );
    return { sessionId, refreshToken };
  }

  /**
   * Exchanges a refresh token for its successor. A token already used means it was stolen or
   * replayed: the whole session is revoked and a security event raised.
   */
  async rotate(
    refreshToken: string,
    meta: RequestMeta,
  ): Promise<{ sessionId: string; userId: string; refreshToken: string }> {
    const outcome = await this.deps.db.transaction(async (tx) => {
      const found = await tx.query<{
        session_id: string;
        used_at: Date | null;
        expires_at: Date;
        revoked_at: Date | null;
        user_id: string;
        status: string;
      }>(
        `SELECT r.session_id, r.used_at, r.expires_at, s.revoked_at, s.user_id, u.status
           FROM auth_refresh_tokens r
           JOIN auth_sessions s ON s.id = r.session_id
           JOIN auth_users u ON u.id = s.user_id
          WHERE r.token_hash = $1
          FOR UPDATE OF r, s`,
        [sha256(refreshToken)],
      );
      const row = found.rows[0];
      if (!row) return { kind: 'invalid' as const };
      if (row.used_at) {
        if (!row.revoked_at) {
          await this.revokeWhere(tx, 'id = $1', [row.session_id], 'refresh_token_reuse', null, meta);
          await this.deps.audit.record(
            auditEntry(meta, {
              action: 'auth.refresh_reuse',
              outcome: 'failure',
              actor: { type: 'user', id: row.user_id },
              resource: { type: 'Session', id: row.session_id },
            }),
            tx,
          );
        }
        return { kind: 'reuse' as const };
      }
      if (row.revoked_at || row.expires_at.getTime() <= Date.now() || row.status === 'disabled')
        return { kind: 'invalid' as const };
      const next = opaqueToken('irt');
      await tx.query('UPDATE auth_refresh_tokens SET used_at = now() WHERE token_hash = $1', [
        sha256(refreshToken),
      ]);
      await tx.query(
        'INSERT INTO auth_refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)',
        [sha256(next), row.session_id, row.expires_at],
      );
      await tx.query(
        'UPDATE auth_sessions SET last_used_at = now(), ip = $2, user_agent = COALESCE($3, user_agent) WHERE id = $1',
        [row.session_id, meta.ip, meta.userAgent?.slice(0, 512) ?? null],
      );
      return { kind: 'ok' as const, sessionId: row.session_id, userId: row.user_id, refreshToken: next };
    });
    if (outcome.kind !== 'ok') throw unauthorized('The refresh token is not valid; sign in again');
    return outcome;
  }

  /**
   * Revokes the matching live sessions inside `tx`, raises `session.revoked` for each, and drops
   * their cached state once `tx` commits so their access tokens stop working at once.
   */
  async revokeWhere(
    tx: Transaction,
    where: string,
    params: unknown[],
    reason: string,
    actor: Actor | null,
    meta?: RequestMeta,
  ): Promise<string[]> {
    const result = await tx.query<{ id: string; user_id: string }>(
      `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $${params.length + 1}
        WHERE revoked_at IS NULL AND ${where} RETURNING id, user_id`,
      [...params, reason],
    );
    for (const row of result.rows) {
      await publish(
        this.deps,
        tx,
        'session.revoked',
        actor,
        { type: 'Session', id: row.id },
        {
          sessionId: row.id,
          userId: row.user_id,
          reason,
        },
        meta?.requestId,
      );
    }
    const ids = result.rows.map((r) => r.id);
    tx.afterCommit(() => this.forget(ids));
    return ids;
  }

  /**
   * Drops cached session state (after a change to what it holds) in the shared cache first, then
   * in every process, so no process can refill its memory from a stale shared entry.
   */
  async forget(sessionIds: readonly string[]): Promise<void> {
    await Promise.all(
      sessionIds.map((id) => this.deps.cache.delete(cacheKeys(this.deps.options.cacheNamespace).session(id))),
    );
    await this.local.invalidate(sessionIds);
  }

  /** Drops the cached state of every live session of some users (roles, grants, rules changed). */
  async forgetUsers(q: Queryable, userIds: readonly string[] | 'all'): Promise<void> {
    const result =
      userIds === 'all'
        ? await q.query<{ id: string }>('SELECT id FROM auth_sessions WHERE revoked_at IS NULL')
        : await q.query<{ id: string }>(
            'SELECT id FROM auth_sessions WHERE revoked_at IS NULL AND user_id = ANY($1::uuid[])',
            [userIds],
          );
    await this.forget(result.rows.map((r) => r.id));
  }

  async list(userId: string, currentSessionId?: string): Promise<SessionInfo[]> {
    const result = await this.deps.db.query<{
      id: string;
      kind: string;
      created_at: Date;
      last_used_at: Date;
      expires_at: Date;
      ip: string | null;
      user_agent: string | null;
    }>(
      `SELECT id, kind, created_at, last_used_at, expires_at, ip, user_agent FROM auth_sessions
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC`,
      [userId],
    );
    return result.rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      expiresAt: r.expires_at,
      ip: r.ip,
      userAgent: r.user_agent,
      current: r.id === currentSessionId,
    }));
  }

  /**
   * The session's state from this process's memory, the shared cache, or loaded (and its last use
   * noted) on a miss. Callers treat it as read-only: one object serves every request of the session.
   */
  snapshot(sessionId: string): Promise<SessionSnapshot | null> {
    return this.local.get(sessionId, () =>
      this.deps.cache.getOrSet(
        cacheKeys(this.deps.options.cacheNamespace).session(sessionId),
        this.deps.options.sessionCacheSeconds,
        () => this.load(sessionId),
      ),
    );
  }

  private async load(sessionId: string): Promise<SessionSnapshot | null> {
    const db = this.deps.db;
    const found = await db.query<{
      user_id: string;
      expires_at: Date;
      revoked_at: Date | null;
      mfa_verified_at: Date | null;
      status: string;
      organization_id: string | null;
      patient_id: string | null;
      must_change_password: boolean;
      mfa_confirmed: boolean;
    }>(
      `UPDATE auth_sessions s SET last_used_at = now()
         FROM auth_users u
        WHERE s.id = $1 AND u.id = s.user_id
        RETURNING s.user_id, s.expires_at, s.revoked_at, s.mfa_verified_at, u.status, u.organization_id,
                  u.patient_id, u.must_change_password,
                  EXISTS (SELECT 1 FROM auth_mfa_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS mfa_confirmed`,
      [sessionId],
    );
    const s = found.rows[0];
    if (!s) return null;
    const roles = await userRoles(db, s.user_id);
    const access = await effectiveAccess(db, roles);
    const orgs = await db.query<{ organization_id: string }>(
      'SELECT organization_id FROM auth_user_organizations WHERE user_id = $1',
      [s.user_id],
    );
    const team = await db.query<{ patient_id: string }>(
      'SELECT patient_id FROM auth_care_team_members WHERE user_id = $1',
      [s.user_id],
    );
    const grants = await db.query<{ patient_id: string; expires_at: Date }>(
      'SELECT patient_id, expires_at FROM auth_break_glass_grants WHERE user_id = $1 AND expires_at > now()',
      [s.user_id],
    );
    const mfaRequired = access.roles.some((r) => this.deps.options.mfaRequiredRoles.includes(r));
    return {
      // A lockout stops new sign-ins only: an attacker guessing passwords must not end the owner's sessions.
      active: s.revoked_at === null && s.status !== 'disabled' && s.expires_at.getTime() > Date.now(),
      userId: s.user_id,
      expiresAt: s.expires_at.getTime(),
      roles: access.roles,
      permissions: access.permissions,
      roleScopes: access.scopes,
      organizationId: s.organization_id,
      organizationIds: [
        ...new Set([
          ...(s.organization_id ? [s.organization_id] : []),
          ...orgs.rows.map((o) => o.organization_id),
        ]),
      ],
      careTeamPatientIds: team.rows.map((t) => t.patient_id),
      ownPatientId: s.patient_id,
      breakGlass: grants.rows.map((g) => ({ patientId: g.patient_id, expiresAt: g.expires_at.getTime() })),
      mfaVerifiedAt: s.mfa_verified_at?.getTime() ?? null,
      requiredActions: [
        ...(s.must_change_password ? (['change_password'] as const) : []),
        ...(mfaRequired && !s.mfa_confirmed ? (['enroll_mfa'] as const) : []),
      ],
      rules: await rulesFor(db, s.user_id, access.roles),
    };
  }
}
