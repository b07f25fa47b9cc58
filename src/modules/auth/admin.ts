import { randomUUID } from 'node:crypto';
import type { Actor } from '../../platform/events/port.js';
import { errors } from '../../platform/http/errors.js';
import { auditEntry, publish, SYSTEM_ACTOR, type RequestMeta } from './deps.js';
import { checkPasswordPolicy } from './passwords.js';
import { PolicyAdmin } from './policy-admin.js';
import { effectiveAccess, userRoles } from './rbac.js';
import { generatePassword } from './secrets.js';
import type { AuthService } from './service.js';

export const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,189}$/;

export interface UserView {
  id: string;
  email: string;
  name: string;
  status: 'active' | 'locked' | 'disabled';
  organizationId: string | null;
  patientId: string | null;
  mustChangePassword: boolean;
  lockedUntil: Date | null;
  lastLoginAt: Date | null;
  createdAt: Date;
  roles: string[];
  mfaEnrolled: boolean;
}

const USER_SELECT = `
  SELECT u.id, u.email, u.name, u.status, u.organization_id, u.patient_id, u.must_change_password,
         u.locked_until, u.last_login_at, u.created_at,
         COALESCE((SELECT array_agg(r.role ORDER BY r.role) FROM auth_user_roles r WHERE r.user_id = u.id), '{}') AS roles,
         EXISTS (SELECT 1 FROM auth_mfa_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS mfa_enrolled
    FROM auth_users u`;

interface UserViewRow {
  id: string;
  email: string;
  name: string;
  status: UserView['status'];
  organization_id: string | null;
  patient_id: string | null;
  must_change_password: boolean;
  locked_until: Date | null;
  last_login_at: Date | null;
  created_at: Date;
  roles: string[];
  mfa_enrolled: boolean;
}

function view(r: UserViewRow): UserView {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    status: r.status,
    organizationId: r.organization_id,
    patientId: r.patient_id,
    mustChangePassword: r.must_change_password,
    lockedUntil: r.locked_until,
    lastLoginAt: r.last_login_at,
    createdAt: r.created_at,
    roles: r.roles,
    mfaEnrolled: r.mfa_enrolled,
  };
}

export interface NewUser {
  email: string;
  name?: string;
  roles: string[];
  password?: string;
  organizationId?: string | null;
  patientId?: string | null;
}

/** Administration of accounts, roles, assignments and access rules; every change audited. */
export class AuthAdmin {
  /** Roles and access rules. */
  readonly policy: PolicyAdmin;

  constructor(private readonly auth: AuthService) {
    this.policy = new PolicyAdmin(auth);
  }

  private get deps() {
    return this.auth.deps;
  }

  async listUsers(): Promise<UserView[]> {
    const result = await this.deps.db.query<UserViewRow>(`${USER_SELECT} ORDER BY u.created_at`);
    return result.rows.map(view);
  }

  async getUser(id: string): Promise<UserView> {
    const result = await this.deps.db.query<UserViewRow>(`${USER_SELECT} WHERE u.id = $1`, [id]);
    const row = result.rows[0];
    if (!row) throw errors.notFound(`No user ${id}`);
    return view(row);
  }

  private async knownRoles(roles: string[]): Promise<string[]> {
    const access = await effectiveAccess(this.deps.db, roles);
    const unknown = roles.filter((r) => !access.roles.includes(r));
    if (unknown.length > 0) throw errors.unprocessable(`Unknown role(s): ${unknown.join(', ')}`);
    return access.roles;
  }

  /**
   * Creates an account. Without a password one is generated and returned once, and must be
   * changed at first sign-in.
   */
  async createUser(
    input: NewUser,
    actor: Actor,
    meta?: RequestMeta,
  ): Promise<{ user: UserView; password?: string }> {
    const email = input.email.trim();
    if (!EMAIL.test(email)) throw errors.unprocessable('email must be an email address');
    const roles = await this.knownRoles(input.roles);
    const generated = input.password === undefined ? generatePassword() : undefined;
    const password = input.password ?? (generated as string);
    if (input.password !== undefined) checkPasswordPolicy(input.password, [email, input.name ?? '']);
    const hash = await this.auth.hasher.hash(password);
    const id = randomUUID();
    await this.deps.db
      .transaction(async (tx) => {
        const taken = await tx.query('SELECT 1 FROM auth_users WHERE lower(email) = lower($1)', [email]);
        if (taken.rowCount > 0) throw errors.conflict('An account with this email already exists');
        await tx.query(
          `INSERT INTO auth_users (id, email, name, organization_id, patient_id, must_change_password)
         VALUES ($1, $2, $3, $4, $5, $6)`,
          [
            id,
            email,
            input.name ?? '',
            input.organizationId ?? null,
            input.patientId ?? null,
            generated !== undefined,
          ],
        );
        await tx.query('INSERT INTO auth_credentials (user_id, password_hash) VALUES ($1, $2)', [id, hash]);
        await tx.query('INSERT INTO auth_user_roles (user_id, role) SELECT $1, unnest($2::text[])', [
          id,
          roles,
        ]);
        await publish(
          this.deps,
          tx,
          'role.changed',
          actor,
          { type: 'User', id },
          { userId: id, roles, previous: [] },
          meta?.requestId,
        );
        await this.deps.audit.record(
          auditEntry(meta, {
            action: 'user.created',
            outcome: 'success',
            actor,
            resource: { type: 'User', id },
            details: { roles },
          }),
          tx,
        );
      })
      .catch((error: unknown) => {
        // Two creations of one email at once: the unique index decides.
        if ((error as { code?: string }).code === '23505')
          throw errors.conflict('An account with this email already exists');
        throw error;
      });
    return { user: await this.getUser(id), ...(generated ? { password: generated } : {}) };
  }

  async updateUser(
    id: string,
    patch: {
      name?: string;
      status?: 'active' | 'disabled';
      organizationId?: string | null;
      patientId?: string | null;
    },
    actor: Actor,
    meta: RequestMeta,
  ): Promise<UserView> {
    await this.getUser(id);
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE auth_users SET
           name = COALESCE($2, name),
           status = COALESCE($3, status),
           organization_id = CASE WHEN $4::boolean THEN $5 ELSE organization_id END,
           patient_id = CASE WHEN $6::boolean THEN $7 ELSE patient_id END,
           updated_at = now()
         WHERE id = $1`,
        [
          id,
          patch.name ?? null,
          patch.status ?? null,
          patch.organizationId !== undefined,
          patch.organizationId ?? null,
          patch.patientId !== undefined,
          patch.patientId ?? null,
        ],
      );
      if (patch.status === 'disabled')
        await this.auth.sessions.revokeWhere(tx, 'user_id = $1', [id], 'user_disabled', actor, meta);
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'user.updated',
          outcome: 'success',
          actor,
          resource: { type: 'User', id },
          details: { fields: Object.keys(patch) },
        }),
        tx,
      );
    });
    await this.auth.sessions.forgetUsers(this.deps.db, [id]);
    return this.getUser(id);
  }

  async setRoles(id: string, roles: string[], actor: Actor, meta: RequestMeta): Promise<UserView> {
    await this.getUser(id);
    const known = await this.knownRoles(roles);
    await this.deps.db.transaction(async (tx) => {
      const previous = await userRoles(tx, id);
      await tx.query('DELETE FROM auth_user_roles WHERE user_id = $1', [id]);
      await tx.query('INSERT INTO auth_user_roles (user_id, role) SELECT $1, unnest($2::text[])', [
        id,
        known,
      ]);
      await publish(
        this.deps,
        tx,
        'role.changed',
        actor,
        { type: 'User', id },
        { userId: id, roles: known, previous },
        meta.requestId,
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'role.assigned',
          outcome: 'success',
          actor,
          resource: { type: 'User', id },
          details: { roles: known, previous },
        }),
        tx,
      );
    });
    await this.auth.sessions.forgetUsers(this.deps.db, [id]);
    return this.getUser(id);
  }

  /** Organization memberships and care-team patients: the user's patient scope. */
  async setAccess(
    id: string,
    input: { organizationIds: string[]; careTeamPatientIds: string[] },
    actor: Actor,
    meta: RequestMeta,
  ) {
    await this.getUser(id);
    await this.deps.db.transaction(async (tx) => {
      await tx.query('DELETE FROM auth_user_organizations WHERE user_id = $1', [id]);
      await tx.query('DELETE FROM auth_care_team_members WHERE user_id = $1', [id]);
      await tx.query(
        'INSERT INTO auth_user_organizations (user_id, organization_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING',
        [id, input.organizationIds],
      );
      await tx.query(
        'INSERT INTO auth_care_team_members (user_id, patient_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING',
        [id, input.careTeamPatientIds],
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'user.access_changed',
          outcome: 'success',
          actor,
          resource: { type: 'User', id },
          details: {
            organizations: input.organizationIds.length,
            careTeamPatients: input.careTeamPatientIds.length,
          },
        }),
        tx,
      );
    });
    await this.auth.sessions.forgetUsers(this.deps.db, [id]);
    return { organizationIds: input.organizationIds, careTeamPatientIds: input.careTeamPatientIds };
  }

  async effectivePermissions(id: string) {
    const user = await this.getUser(id);
    const access = await effectiveAccess(this.deps.db, user.roles);
    return { userId: id, roles: access.roles, permissions: access.permissions, patientScopes: access.scopes };
  }

  async unlock(id: string, actor: Actor, meta: RequestMeta): Promise<UserView> {
    await this.getUser(id);
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE auth_users SET status = CASE WHEN status = 'locked' THEN 'active' ELSE status END,
           failed_logins = 0, locked_until = NULL, updated_at = now() WHERE id = $1`,
        [id],
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'user.unlocked',
          outcome: 'success',
          actor,
          resource: { type: 'User', id },
        }),
        tx,
      );
    });
    return this.getUser(id);
  }

  async revokeSessions(id: string, actor: Actor, meta: RequestMeta): Promise<number> {
    await this.getUser(id);
    const revoked = await this.deps.db.transaction(async (tx) => {
      const ids = await this.auth.sessions.revokeWhere(
        tx,
        'user_id = $1',
        [id],
        'revoked_by_admin',
        actor,
        meta,
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'session.revoked',
          outcome: 'success',
          actor,
          resource: { type: 'User', id },
          details: { sessions: ids.length },
        }),
        tx,
      );
      return ids;
    });
    return revoked.length;
  }

  /**
   * `iris token`: an access token for an existing user, signed from the local keyring, in a
   * session of its own (revocable like any other). Audited as an operator-issued token.
   */
  async operatorToken(
    email: string,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresIn: number; userId: string }> {
    const user = await this.auth.findUserByEmail(this.deps.db, email);
    if (!user || user.status === 'disabled') throw errors.notFound(`No active account ${email}`);
    const ttl = Math.min(ttlSeconds, this.deps.options.accessTokenTtlSeconds);
    const meta: RequestMeta = { ip: '127.0.0.1', userAgent: 'iris-cli' };
    const { sessionId } = await this.deps.db.transaction(async (tx) => {
      const session = await this.auth.sessions.create(tx, user.id, meta, { kind: 'cli', mfaVerified: false });
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'auth.operator_token',
          outcome: 'success',
          actor: SYSTEM_ACTOR,
          resource: { type: 'User', id: user.id },
          details: { sessionId: session.sessionId, ttlSeconds: ttl },
        }),
        tx,
      );
      return session;
    });
    const signed = await this.auth.tokens.sign({ sub: user.id, pty: 'user', sid: sessionId }, ttl);
    return { token: signed.token, expiresIn: signed.expiresIn, userId: user.id };
  }

  /**
   * Development first start: when no account exists, creates a system administrator with a
   * generated one-time password (to be changed at first sign-in). Null when accounts exist.
   */
  async bootstrapFirstAdmin(email: string): Promise<{ email: string; password: string } | null> {
    const existing = await this.deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM auth_users');
    if ((existing.rows[0]?.n ?? 0) > 0) return null;
    try {
      const created = await this.createUser(
        { email, name: 'Administrator', roles: ['system_admin'] },
        SYSTEM_ACTOR,
      );
      return { email, password: created.password as string };
    } catch (error) {
      // Another process created it first.
      if ((error as { code?: string }).code === 'IRIS_CONFLICT') return null;
      throw error;
    }
  }
}
