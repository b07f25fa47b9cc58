import { randomBytes } from 'node:crypto';
import type { PatientScope, Principal } from '../../platform/auth/port.js';
import { fhirPermission } from '../../platform/auth/port.js';
import { errors } from '../../platform/http/errors.js';
import { auditEntry, cacheKeys, type AuthDeps, type RequestMeta } from './deps.js';
import { effectiveAccess } from './rbac.js';
import { equalSecrets, opaqueToken, sha256 } from './secrets.js';
import type { AccessTokens } from './tokens.js';

/** `system/<Type>.<read|write|*>` (SMART v1) or `system/<Type>.<cruds>` (SMART v2). */
const SMART_SCOPE = /^system\/([A-Z][A-Za-z]{1,63})\.(read|write|\*|c?r?u?d?s?)$/;

/** The permissions one SMART scope stands for; an unrecognised scope stands for none. */
export function scopePermissions(scope: string): string[] {
  const match = SMART_SCOPE.exec(scope);
  if (!match?.[1] || !match[2]) return [];
  const type = match[1];
  const access = match[2];
  const actions = new Set<'read' | 'write' | 'delete'>();
  const v1 = access === 'read' || access === 'write' || access === '*';
  if (access === 'read' || access === '*' || (!v1 && /[rs]/.test(access))) actions.add('read');
  if (access === 'write' || access === '*' || (!v1 && /[cu]/.test(access))) actions.add('write');
  if (!v1 && access.includes('d')) actions.add('delete');
  return [...actions].map((a) => fhirPermission(type, a));
}

export function validScope(scope: string): boolean {
  return scopePermissions(scope).length > 0;
}

export class OAuthError extends Error {
  constructor(
    readonly error: 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope',
    readonly description: string,
    readonly status: number,
  ) {
    super(description);
  }
}

interface ClientSnapshot {
  active: boolean;
  roles: string[];
  /** Permissions of the client's roles: scopes can narrow them, never widen. */
  rolePermissions: string[];
  scopes: string[];
  patientScope: 'all' | 'organization' | 'none';
  organizationId: string | null;
}

export interface ClientRecord {
  id: string;
  name: string;
  scopes: string[];
  roles: string[];
  patientScope: 'all' | 'organization' | 'none';
  organizationId: string | null;
  status: 'active' | 'disabled';
  createdAt: Date;
}

interface ClientRow {
  id: string;
  name: string;
  secret_hash: string;
  scopes: string[];
  roles: string[];
  patient_scope: 'all' | 'organization' | 'none';
  organization_id: string | null;
  status: 'active' | 'disabled';
  created_at: Date;
}

function record(r: ClientRow): ClientRecord {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    roles: r.roles,
    patientScope: r.patient_scope,
    organizationId: r.organization_id,
    status: r.status,
    createdAt: r.created_at,
  };
}

/** OAuth2 machine clients (client credentials grant) with SMART-style system scopes. */
export class ClientDirectory {
  constructor(
    private readonly deps: AuthDeps,
    private readonly tokens: AccessTokens,
  ) {}

  async register(input: {
    name: string;
    scopes: string[];
    roles?: string[];
    patientScope?: 'all' | 'organization' | 'none';
    organizationId?: string | null;
  }): Promise<{ client: ClientRecord; secret: string }> {
    const bad = input.scopes.filter((s) => !validScope(s));
    if (bad.length > 0 || input.scopes.length === 0)
      throw errors.unprocessable(
        `Scopes must be SMART system scopes such as system/Immunization.read (bad: ${bad.join(', ') || 'none given'})`,
      );
    const roles = input.roles ?? ['integration'];
    const known = await effectiveAccess(this.deps.db, roles);
    const unknown = roles.filter((r) => !known.roles.includes(r));
    if (unknown.length > 0) throw errors.unprocessable(`Unknown role(s): ${unknown.join(', ')}`);
    const patientScope = input.patientScope ?? 'organization';
    if (patientScope === 'organization' && !input.organizationId)
      throw errors.unprocessable('A client scoped to an organization needs organizationId');
    const id = `client-${randomBytes(8).toString('hex')}`;
    const secret = opaqueToken('ics');
    const result = await this.deps.db.query<ClientRow>(
      `INSERT INTO auth_oauth_clients (id, name, secret_hash, scopes, roles, patient_scope, organization_id)
       VALUES ($1, $2, $3, $4::text[], $5::text[], $6, $7) RETURNING *`,
      [
        id,
        input.name,
        sha256(secret),
        [...new Set(input.scopes)],
        roles,
        patientScope,
        input.organizationId ?? null,
      ],
    );
    return { client: record(result.rows[0] as ClientRow), secret };
  }

  async list(): Promise<ClientRecord[]> {
    const result = await this.deps.db.query<ClientRow>(
      'SELECT * FROM auth_oauth_clients ORDER BY created_at',
    );
    return result.rows.map(record);
  }

  /** Disables a client; its tokens stop working at once. */
  async disable(id: string): Promise<void> {
    const result = await this.deps.db.query(
      "UPDATE auth_oauth_clients SET status = 'disabled' WHERE id = $1",
      [id],
    );
    if (result.rowCount === 0) throw errors.notFound(`No client ${id}`);
    await this.deps.cache.delete(cacheKeys(this.deps.options.cacheNamespace).client(id));
  }

  /** `POST /oauth2/token`, grant_type=client_credentials. */
  async token(
    params: { grantType?: string; clientId?: string; clientSecret?: string; scope?: string },
    meta: RequestMeta,
  ): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number; scope: string }> {
    if (params.grantType !== 'client_credentials')
      throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported', 400);
    if (!params.clientId || !params.clientSecret)
      throw new OAuthError('invalid_client', 'Client authentication is required', 401);
    const found = await this.deps.db.query<ClientRow>('SELECT * FROM auth_oauth_clients WHERE id = $1', [
      params.clientId,
    ]);
    const row = found.rows[0];
    // Hash first, compare in constant time; an unknown client costs the same as a wrong secret.
    const presented = sha256(params.clientSecret);
    const ok = equalSecrets(presented, row?.secret_hash ?? sha256('')) && row?.status === 'active';
    if (!row || !ok) {
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'auth.client_token',
          outcome: 'failure',
          actor: { type: 'client', id: params.clientId.slice(0, 64) },
        }),
      );
      throw new OAuthError('invalid_client', 'Client authentication failed', 401);
    }
    const requested = params.scope ? params.scope.split(/\s+/).filter((s) => s.length > 0) : row.scopes;
    const refused = requested.filter((s) => !row.scopes.includes(s));
    if (refused.length > 0)
      throw new OAuthError('invalid_scope', `Scopes not granted to this client: ${refused.join(' ')}`, 400);
    const scope = requested.join(' ');
    const issued = await this.tokens.sign(
      { sub: row.id, pty: 'client', scope },
      this.deps.options.accessTokenTtlSeconds,
    );
    await this.deps.audit.record(
      auditEntry(meta, {
        action: 'auth.client_token',
        outcome: 'success',
        actor: { type: 'client', id: row.id },
        details: { scope, jti: issued.jti },
      }),
    );
    return { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope };
  }

  /** The principal for a client token: role permissions narrowed to the token's scopes. */
  async principal(id: string, scope: string): Promise<Principal | undefined> {
    const snap = await this.deps.cache.getOrSet<ClientSnapshot | null>(
      cacheKeys(this.deps.options.cacheNamespace).client(id),
      this.deps.options.sessionCacheSeconds,
      () => this.load(id),
    );
    if (!snap?.active) return undefined;
    const granted = scope.split(' ').filter((s) => snap.scopes.includes(s));
    const fromScopes = new Set(granted.flatMap(scopePermissions));
    const permissions = new Set(snap.rolePermissions.filter((p) => fromScopes.has(p)));
    const patientScope: PatientScope =
      snap.patientScope === 'all'
        ? { kind: 'all' }
        : snap.patientScope === 'organization' && snap.organizationId
          ? { kind: 'organizations', organizationIds: [snap.organizationId], extraPatientIds: [] }
          : { kind: 'none' };
    return {
      kind: 'client',
      id,
      roles: snap.roles,
      permissions,
      scope: patientScope,
      ...(snap.organizationId ? { organizationId: snap.organizationId } : {}),
    };
  }

  private async load(id: string): Promise<ClientSnapshot | null> {
    const found = await this.deps.db.query<ClientRow>('SELECT * FROM auth_oauth_clients WHERE id = $1', [id]);
    const row = found.rows[0];
    if (!row) return null;
    const access = await effectiveAccess(this.deps.db, row.roles);
    return {
      active: row.status === 'active',
      roles: access.roles,
      rolePermissions: access.permissions,
      scopes: row.scopes,
      patientScope: row.patient_scope,
      organizationId: row.organization_id,
    };
  }
}
