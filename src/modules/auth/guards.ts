import type { FastifyRequest, onRequestAsyncHookHandler, preHandlerAsyncHookHandler } from 'fastify';
import type { AccessGuards, PatientScope, Principal } from '../../platform/auth/port.js';
import type { Actor } from '../../platform/events/port.js';
import { errors } from '../../platform/http/errors.js';
import { computeScope } from './abac.js';
import { violatedRule } from './access-rules.js';
import { auditEntry, type AuthDeps, type RequestMeta } from './deps.js';
import type { ClientDirectory } from './oauth.js';
import type { SessionSnapshot, SessionStore } from './sessions.js';
import { unauthorized, type AccessTokens } from './tokens.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

export function requestMeta(request: FastifyRequest): RequestMeta {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : undefined, requestId: request.id };
}

export function actorOf(principal: Principal): Actor {
  return { type: principal.kind, id: principal.id };
}

/** What an authenticated user session carries beyond the shared Principal. */
export interface SessionPrincipal extends Principal {
  requiredActions: SessionSnapshot['requiredActions'];
}

function userPrincipal(snap: SessionSnapshot, sessionId: string, now: number): SessionPrincipal {
  const restricted = snap.requiredActions.length > 0;
  const scope: PatientScope = computeScope({
    roleScopes: snap.roleScopes,
    organizationIds: snap.organizationIds,
    careTeamPatientIds: snap.careTeamPatientIds,
    ownPatientId: snap.ownPatientId,
    breakGlassPatientIds: snap.breakGlass.filter((g) => g.expiresAt > now).map((g) => g.patientId),
  });
  return {
    kind: 'user',
    id: snap.userId,
    roles: snap.roles,
    // A session that must first change its password or enrol MFA holds no permission.
    permissions: new Set(restricted ? [] : snap.permissions),
    scope: restricted ? { kind: 'none' } : scope,
    sessionId,
    ...(snap.mfaVerifiedAt ? { mfaVerifiedAt: new Date(snap.mfaVerifiedAt) } : {}),
    ...(snap.organizationId ? { organizationId: snap.organizationId } : {}),
    requiredActions: snap.requiredActions,
  };
}

/**
 * Authentication and authorization of requests: verifies the Bearer token, checks the session
 * (or client) is still live, applies time and network rules, and builds the Principal. Guards
 * authenticate lazily, so they work in any plugin scope whether or not the hook ran.
 */
export class Authenticator implements AccessGuards {
  constructor(
    private readonly deps: AuthDeps,
    private readonly tokens: AccessTokens,
    private readonly sessions: SessionStore,
    private readonly clients: ClientDirectory,
  ) {}

  /** onRequest hook: sets `request.principal`/`userId` when a token is sent; a bad token is a 401. */
  readonly hook: onRequestAsyncHookHandler = async (request) => {
    if (request.routeOptions.config?.foreignBearer) return;
    await this.authenticate(request);
  };

  async authenticate(request: FastifyRequest): Promise<Principal | undefined> {
    if (request.principal) return request.principal;
    const header = request.headers.authorization;
    // Other schemes (Basic at /oauth2/token) belong to the route that accepts them.
    if (header === undefined || !/^bearer\b/i.test(header)) return undefined;
    const match = BEARER.exec(header);
    if (!match?.[1]) throw unauthorized('The Authorization header must be "Bearer <access token>"');
    const claims = await this.tokens.verify(match[1]);
    let principal: Principal;
    if (claims.pty === 'user') {
      const sid = claims.sid ?? '';
      const snap = await this.sessions.snapshot(sid);
      const now = Date.now();
      if (!snap || !snap.active || snap.userId !== claims.sub || snap.expiresAt <= now) throw unauthorized();
      const broken = violatedRule(snap.rules, request.ip, new Date(now));
      if (broken) {
        await this.denied(request, { type: 'user', id: snap.userId }, { rule: broken });
        throw errors.forbidden(
          broken === 'hours'
            ? 'Access is not allowed at this time'
            : 'Access is not allowed from this network',
        );
      }
      principal = userPrincipal(snap, sid, now);
    } else {
      const client = await this.clients.principal(claims.sub, claims.scope ?? '');
      if (!client) throw unauthorized();
      principal = client;
    }
    request.principal = principal;
    request.userId = principal.id;
    return principal;
  }

  require(...permissions: string[]): preHandlerAsyncHookHandler {
    return async (request) => {
      await this.check(request, permissions);
    };
  }

  requireFreshMfa(maxAgeSeconds: number, ...permissions: string[]): preHandlerAsyncHookHandler {
    return async (request) => {
      const principal = await this.check(request, permissions);
      const at = principal.mfaVerifiedAt?.getTime();
      if (principal.kind !== 'user' || at === undefined || Date.now() - at > maxAgeSeconds * 1000) {
        await this.denied(request, actorOf(principal), { stepUp: true, maxAgeSeconds });
        throw errors.forbidden(
          'This action needs a recent MFA verification: verify a code at POST /api/v1/auth/mfa/verify and retry',
          [],
          {
            'www-authenticate': `Bearer realm="iris", error="insufficient_user_authentication", max_age=${maxAgeSeconds}`,
          },
        );
      }
    };
  }

  /** The authenticated principal of a route that needs no particular permission. */
  async principal(request: FastifyRequest): Promise<Principal> {
    const principal = await this.authenticate(request);
    if (!principal) throw unauthorized();
    return principal;
  }

  private async check(request: FastifyRequest, permissions: string[]): Promise<Principal> {
    const principal = await this.principal(request);
    const missing = permissions.filter((p) => !principal.permissions.has(p));
    if (missing.length > 0) {
      await this.denied(request, actorOf(principal), { missing });
      throw errors.forbidden('You do not have permission for this action');
    }
    return principal;
  }

  /** Denials are audited on their own (no transaction); an audit failure must not turn into a 500. */
  async denied(request: FastifyRequest, actor: Actor, details: Record<string, unknown>): Promise<void> {
    try {
      await this.deps.audit.record(
        auditEntry(requestMeta(request), {
          action: 'authz.denied',
          outcome: 'denied',
          actor,
          resource: { type: 'Route', id: `${request.method} ${request.routeOptions.url ?? 'unmatched'}` },
          details,
        }),
      );
    } catch (error) {
      request.log.error({ err: error }, 'could not audit an access denial');
    }
  }
}
