import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../platform/auth/port.js';
import type { AuthAdmin, NewUser } from './admin.js';
import { actorOf, requestMeta } from './guards.js';
import * as s from './http-schemas.js';
import { registerPolicyRoutes } from './routes-policy.js';
import type { AuthService } from './service.js';

const ADMIN = '/api/v1/admin';
const idList = {
  type: 'array',
  maxItems: 1000,
  items: { type: 'string', minLength: 1, maxLength: 64 },
} as const;
/** Administration API: accounts, their roles, patient scope, lock and sessions. */
export function registerAdminRoutes(app: FastifyInstance, auth: AuthService, admin: AuthAdmin): void {
  const g = auth.guards;
  const actor = (request: FastifyRequest) => actorOf(request.principal as Principal);
  const meta = requestMeta;
  const tags = ['admin'];
  const security = s.bearer;

  app.get(
    `${ADMIN}/users`,
    {
      onRequest: g.require('user:read'),
      schema: {
        tags,
        security,
        summary: 'List accounts',
        response: { 200: { type: 'array', items: s.user }, ...s.problems(401, 403) },
      },
    },
    async () => admin.listUsers(),
  );

  app.post<{ Body: NewUser }>(
    `${ADMIN}/users`,
    {
      onRequest: g.require('user:manage'),
      schema: {
        tags,
        security,
        summary: 'Create an account (a generated password is returned once when none is given)',
        body: {
          type: 'object',
          required: ['email', 'roles'],
          additionalProperties: false,
          properties: {
            email: { type: 'string', minLength: 3, maxLength: 254 },
            name: { type: 'string', maxLength: 200 },
            roles: { type: 'array', maxItems: 20, items: { type: 'string' } },
            password: s.password,
            organizationId: { type: 'string', maxLength: 64, nullable: true },
            patientId: { type: 'string', maxLength: 64, nullable: true },
          },
        },
        response: {
          201: { type: 'object', properties: { user: s.user, password: { type: 'string' } } },
          ...s.problems(401, 403, 409, 422),
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return reply.code(201).send(await admin.createUser(request.body, actor(request), meta(request)));
    },
  );

  app.get<{ Params: { id: string } }>(
    `${ADMIN}/users/:id`,
    {
      onRequest: g.require('user:read'),
      schema: {
        tags,
        security,
        summary: 'One account',
        params: s.uuidParam,
        response: { 200: s.user, ...s.problems(401, 403, 404) },
      },
    },
    async (request) => admin.getUser(request.params.id),
  );

  app.patch<{
    Params: { id: string };
    Body: {
      name?: string;
      status?: 'active' | 'disabled';
      organizationId?: string | null;
      patientId?: string | null;
    };
  }>(
    `${ADMIN}/users/:id`,
    {
      onRequest: g.require('user:manage'),
      schema: {
        tags,
        security,
        summary: 'Edit an account; status=disabled revokes its sessions',
        params: s.uuidParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', maxLength: 200 },
            status: { type: 'string', enum: ['active', 'disabled'] },
            organizationId: { type: 'string', maxLength: 64, nullable: true },
            patientId: { type: 'string', maxLength: 64, nullable: true },
          },
        },
        response: { 200: s.user, ...s.problems(401, 403, 404) },
      },
    },
    async (request) => admin.updateUser(request.params.id, request.body, actor(request), meta(request)),
  );

  app.delete<{ Params: { id: string } }>(
    `${ADMIN}/users/:id`,
    {
      onRequest: g.require('user:manage'),
      schema: {
        tags,
        security,
        summary: 'Disable an account (accounts are kept for the audit trail) and revoke its sessions',
        params: s.uuidParam,
        response: { 200: s.user, ...s.problems(401, 403, 404) },
      },
    },
    async (request) =>
      admin.updateUser(request.params.id, { status: 'disabled' }, actor(request), meta(request)),
  );

  app.put<{ Params: { id: string }; Body: { roles: string[] } }>(
    `${ADMIN}/users/:id/roles`,
    {
      onRequest: g.require('user:manage'),
      schema: {
        tags,
        security,
        summary: "Replace an account's roles",
        params: s.uuidParam,
        body: {
          type: 'object',
          required: ['roles'],
          additionalProperties: false,
          properties: { roles: { type: 'array', maxItems: 20, items: { type: 'string' } } },
        },
        response: { 200: s.user, ...s.problems(401, 403, 404, 422) },
      },
    },
    async (request) => admin.setRoles(request.params.id, request.body.roles, actor(request), meta(request)),
  );

  app.put<{ Params: { id: string }; Body: { organizationIds: string[]; careTeamPatientIds: string[] } }>(
    `${ADMIN}/users/:id/access`,
    {
      onRequest: g.require('user:manage'),
      schema: {
        tags,
        security,
        summary: 'Replace organization memberships and care-team patients (patient scope)',
        params: s.uuidParam,
        body: {
          type: 'object',
          required: ['organizationIds', 'careTeamPatientIds'],
          additionalProperties: false,
          properties: { organizationIds: idList, careTeamPatientIds: idList },
        },
        response: {
          200: { type: 'object', properties: { organizationIds: idList, careTeamPatientIds: idList } },
          ...s.problems(401, 403, 404),
        },
      },
    },
    async (request) => admin.setAccess(request.params.id, request.body, actor(request), meta(request)),
  );

  app.get<{ Params: { id: string } }>(
    `${ADMIN}/users/:id/permissions`,
    {
      onRequest: g.require('user:read'),
      schema: {
        tags,
        security,
        summary: 'Effective permissions of an account (union of its roles; unknown roles grant nothing)',
        params: s.uuidParam,
        response: {
          200: {
            type: 'object',
            properties: {
              userId: { type: 'string' },
              roles: { type: 'array', items: { type: 'string' } },
              permissions: { type: 'array', items: { type: 'string' } },
              patientScopes: { type: 'array', items: { type: 'string' } },
            },
          },
          ...s.problems(401, 403, 404),
        },
      },
    },
    async (request) => admin.effectivePermissions(request.params.id),
  );

  app.post<{ Params: { id: string } }>(
    `${ADMIN}/users/:id/unlock`,
    {
      onRequest: g.require('user:unlock'),
      schema: {
        tags,
        security,
        summary: 'Unlock an account locked by failed sign-ins',
        params: s.uuidParam,
        response: { 200: s.user, ...s.problems(401, 403, 404) },
      },
    },
    async (request) => admin.unlock(request.params.id, actor(request), meta(request)),
  );

  app.delete<{ Params: { id: string } }>(
    `${ADMIN}/users/:id/sessions`,
    {
      onRequest: g.require('session:manage'),
      schema: {
        tags,
        security,
        summary: 'Revoke every session of an account (its tokens stop working at once)',
        params: s.uuidParam,
        response: {
          200: { type: 'object', properties: { revoked: { type: 'integer' } } },
          ...s.problems(401, 403, 404),
        },
      },
    },
    async (request) => ({
      revoked: await admin.revokeSessions(request.params.id, actor(request), meta(request)),
    }),
  );

  registerPolicyRoutes(app, auth, admin);
}
