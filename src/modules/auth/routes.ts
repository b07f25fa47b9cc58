import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../platform/auth/port.js';
import type { AuthAdmin } from './admin.js';
import { requestMeta, type SessionPrincipal } from './guards.js';
import * as s from './http-schemas.js';
import { registerAdminRoutes } from './routes-admin.js';
import { registerMfaRoutes } from './routes-mfa.js';
import { registerTokenEndpoint } from './routes-oauth.js';
import type { AuthService } from './service.js';

const AUTH = '/api/v1/auth';

/** Every HTTP route of the identity module. */
export function registerAuthRoutes(app: FastifyInstance, auth: AuthService, admin: AuthAdmin): void {
  const guards = auth.guards;
  const authenticated = guards.require();
  const user = (request: FastifyRequest): Principal => request.principal as Principal;

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['auth'],
        summary: 'Public keys that verify access tokens (every token-signing key still in the keyring)',
        response: {
          200: {
            type: 'object',
            properties: { keys: { type: 'array', items: { type: 'object', additionalProperties: true } } },
          },
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return auth.tokens.jwks();
    },
  );

  app.post<{ Body: { email: string; password: string } }>(
    `${AUTH}/login`,
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password: tokens, or an MFA challenge',
        body: {
          type: 'object',
          required: ['email', 'password'],
          additionalProperties: false,
          properties: { email: { type: 'string', minLength: 1, maxLength: 254 }, password: s.password },
        },
        response: { 200: { oneOf: [s.tokenSet, s.mfaChallenge] }, ...s.problems(400, 401, 403, 429) },
      },
    },
    async (request, reply) => {
      s.noStore(reply);
      return auth.login(request.body.email, request.body.password, requestMeta(request));
    },
  );

  app.post<{ Body: { challengeToken: string; code?: string; recoveryCode?: string } }>(
    `${AUTH}/login/mfa`,
    {
      schema: {
        tags: ['auth'],
        summary: 'Complete an MFA sign-in with a TOTP code or a recovery code',
        body: {
          type: 'object',
          required: ['challengeToken'],
          additionalProperties: false,
          properties: {
            challengeToken: { type: 'string', minLength: 1, maxLength: 128 },
            code: s.totpCode,
            recoveryCode: { type: 'string', minLength: 1, maxLength: 32 },
          },
        },
        response: { 200: s.tokenSet, ...s.problems(400, 401) },
      },
    },
    async (request, reply) => {
      s.noStore(reply);
      const { challengeToken, code, recoveryCode } = request.body;
      return auth.completeMfaLogin(challengeToken, { code, recoveryCode }, requestMeta(request));
    },
  );

  app.post<{ Body: { refreshToken: string } }>(
    `${AUTH}/refresh`,
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for new tokens (each refresh token works once)',
        body: {
          type: 'object',
          required: ['refreshToken'],
          additionalProperties: false,
          properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 128 } },
        },
        response: { 200: s.tokenSet, ...s.problems(400, 401) },
      },
    },
    async (request, reply) => {
      s.noStore(reply);
      return auth.refresh(request.body.refreshToken, requestMeta(request));
    },
  );

  app.post<{ Querystring: { all?: boolean } }>(
    `${AUTH}/logout`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary: 'Revoke this session (or, with all=true, every session of the user)',
        security: s.bearer,
        querystring: { type: 'object', properties: { all: { type: 'boolean' } } },
        response: {
          200: { type: 'object', properties: { revoked: { type: 'integer' } } },
          ...s.problems(401),
        },
      },
    },
    async (request) => ({
      revoked: await auth.logout(user(request), request.query.all === true, requestMeta(request)),
    }),
  );

  app.get(
    `${AUTH}/me`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary: 'The authenticated principal: roles, permissions, patient scope',
        security: s.bearer,
        response: {
          200: {
            type: 'object',
            properties: {
              kind: { type: 'string' },
              id: { type: 'string' },
              roles: { type: 'array', items: { type: 'string' } },
              permissions: { type: 'array', items: { type: 'string' } },
              scope: { type: 'object', additionalProperties: true },
              sessionId: { type: 'string' },
              mfaVerifiedAt: { type: 'string', format: 'date-time' },
              organizationId: { type: 'string' },
              requiredActions: { type: 'array', items: { type: 'string' } },
            },
          },
          ...s.problems(401),
        },
      },
    },
    async (request) => {
      const p = user(request);
      const required = (p as Partial<SessionPrincipal>).requiredActions ?? [];
      return {
        ...p,
        permissions: [...p.permissions].sort(),
        requiredActions: required,
      };
    },
  );

  app.post<{ Body: { currentPassword: string; newPassword: string } }>(
    `${AUTH}/password/change`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary: 'Change the password (revokes the other sessions)',
        security: s.bearer,
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          additionalProperties: false,
          properties: { currentPassword: s.password, newPassword: s.password },
        },
        response: { 204: { type: 'null' }, ...s.problems(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      await auth.account.changePassword(
        user(request),
        request.body.currentPassword,
        request.body.newPassword,
        requestMeta(request),
      );
      return reply.code(204).send();
    },
  );

  app.post<{ Body: { email: string } }>(
    `${AUTH}/password/reset-request`,
    {
      schema: {
        tags: ['auth'],
        summary: 'Mail a single-use reset link (always 202, whether or not the account exists)',
        body: {
          type: 'object',
          required: ['email'],
          additionalProperties: false,
          properties: { email: { type: 'string', minLength: 1, maxLength: 254 } },
        },
        response: { 202: { type: 'null' }, ...s.problems(400) },
      },
    },
    async (request, reply) => {
      await auth.account.requestPasswordReset(request.body.email, requestMeta(request));
      return reply.code(202).send();
    },
  );

  app.post<{ Body: { token: string; newPassword: string } }>(
    `${AUTH}/password/reset`,
    {
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a reset token (revokes every session)',
        body: {
          type: 'object',
          required: ['token', 'newPassword'],
          additionalProperties: false,
          properties: { token: { type: 'string', minLength: 1, maxLength: 128 }, newPassword: s.password },
        },
        response: { 204: { type: 'null' }, ...s.problems(400, 422) },
      },
    },
    async (request, reply) => {
      await auth.account.resetPassword(request.body.token, request.body.newPassword, requestMeta(request));
      return reply.code(204).send();
    },
  );

  app.get(
    `${AUTH}/sessions`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary: 'My live sessions',
        security: s.bearer,
        response: { 200: { type: 'array', items: s.session }, ...s.problems(401) },
      },
    },
    async (request) => auth.sessions.list(user(request).id, user(request).sessionId),
  );

  app.delete<{ Params: { id: string } }>(
    `${AUTH}/sessions/:id`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary: 'Revoke one of my sessions',
        security: s.bearer,
        params: s.uuidParam,
        response: { 204: { type: 'null' }, ...s.problems(401, 404) },
      },
    },
    async (request, reply) => {
      await auth.revokeOwnSession(user(request), request.params.id, requestMeta(request));
      return reply.code(204).send();
    },
  );

  registerMfaRoutes(app, auth);
  registerTokenEndpoint(app, auth);
  registerAdminRoutes(app, auth, admin);
}
