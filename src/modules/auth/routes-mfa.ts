import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../platform/auth/port.js';
import { openBreakGlass } from './abac.js';
import { requestMeta } from './guards.js';
import * as s from './http-schemas.js';
import type { AuthService } from './service.js';

const AUTH = '/api/v1/auth';

/** TOTP enrolment, verification (step-up), disable, recovery codes; break-glass. */
export function registerMfaRoutes(app: FastifyInstance, auth: AuthService): void {
  const guards = auth.guards;
  const authenticated = guards.require();
  const user = (request: FastifyRequest): Principal => request.principal as Principal;
  const stepUp = auth.deps.options.stepUpMaxAgeSeconds;

  app.post<{ Body: { password: string } }>(
    `${AUTH}/mfa/enroll`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary: 'Start TOTP enrolment: secret, otpauth URI and QR image; confirm with /mfa/verify',
        security: s.bearer,
        body: {
          type: 'object',
          required: ['password'],
          additionalProperties: false,
          properties: { password: s.password },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              secret: { type: 'string' },
              otpauthUri: { type: 'string' },
              qrDataUrl: { type: 'string' },
            },
          },
          ...s.problems(401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      s.noStore(reply);
      return auth.account.enrollMfa(user(request), request.body.password);
    },
  );

  app.post<{ Body: { code: string } }>(
    `${AUTH}/mfa/verify`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary:
          'Verify a TOTP code: confirms enrolment (returns 10 recovery codes once) or refreshes step-up',
        security: s.bearer,
        body: {
          type: 'object',
          required: ['code'],
          additionalProperties: false,
          properties: { code: s.totpCode },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              mfaVerifiedAt: { type: 'string', format: 'date-time' },
              recoveryCodes: { type: 'array', items: { type: 'string' } },
            },
          },
          ...s.problems(401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      s.noStore(reply);
      return auth.account.verifyMfa(user(request), request.body.code, requestMeta(request));
    },
  );

  app.post<{ Body: { password: string; code: string } }>(
    `${AUTH}/mfa/disable`,
    {
      onRequest: authenticated,
      schema: {
        tags: ['auth'],
        summary: 'Remove TOTP (password and a current code required)',
        security: s.bearer,
        body: {
          type: 'object',
          required: ['password', 'code'],
          additionalProperties: false,
          properties: { password: s.password, code: s.totpCode },
        },
        response: { 204: { type: 'null' }, ...s.problems(401, 403) },
      },
    },
    async (request, reply) => {
      await auth.account.disableMfa(
        user(request),
        request.body.password,
        request.body.code,
        requestMeta(request),
      );
      return reply.code(204).send();
    },
  );

  app.post(
    `${AUTH}/mfa/recovery`,
    {
      onRequest: guards.requireFreshMfa(stepUp),
      schema: {
        tags: ['auth'],
        summary: 'Replace the recovery codes with 10 new ones (needs a fresh MFA verification)',
        security: s.bearer,
        response: {
          200: {
            type: 'object',
            properties: { recoveryCodes: { type: 'array', items: { type: 'string' } } },
          },
          ...s.problems(401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      s.noStore(reply);
      return {
        recoveryCodes: await auth.account.regenerateRecoveryCodes(user(request), requestMeta(request)),
      };
    },
  );

  app.post<{ Body: { patientId: string; reason: string; minutes?: number } }>(
    `${AUTH}/break-glass`,
    {
      onRequest: guards.requireFreshMfa(stepUp, 'breakglass:open'),
      schema: {
        tags: ['auth'],
        summary:
          'Break-glass: open a patient outside your scope for a limited time, with a reason (audited, alerted)',
        security: s.bearer,
        body: {
          type: 'object',
          required: ['patientId', 'reason'],
          additionalProperties: false,
          properties: {
            patientId: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' },
            reason: { type: 'string', minLength: 10, maxLength: 1000 },
            minutes: { type: 'integer', minimum: 1, maximum: 60 },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              grantId: { type: 'string' },
              patientId: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
            },
          },
          ...s.problems(401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const grant = await openBreakGlass(auth, user(request), request.body, requestMeta(request));
      return reply.code(201).send(grant);
    },
  );
}
