import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../platform/auth/port.js';
import { KEY_PURPOSES, type KeyPurpose } from '../../platform/crypto/keyring.js';
import { errors } from '../../platform/http/errors.js';
import type { AccessRule } from './access-rules.js';
import type { AuthAdmin } from './admin.js';
import { auditEntry } from './deps.js';
import { actorOf, requestMeta } from './guards.js';
import * as s from './http-schemas.js';
import type { RoleScope } from './rbac.js';
import type { AuthService } from './service.js';

const ADMIN = '/api/v1/admin';
const nameParam = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9_]{1,62}$' } },
} as const;
const roleBody = {
  type: 'object',
  required: ['permissions'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[a-z][a-z0-9_]{1,62}$' },
    description: { type: 'string', maxLength: 500 },
    patientScope: { type: 'string', enum: ['all', 'organization', 'own', 'none'] },
    permissions: {
      type: 'array',
      maxItems: 200,
      items: { type: 'string', pattern: '^[a-z][a-z_]*:[a-z][a-z_]*$' },
    },
  },
} as const;

interface RoleBody {
  name?: string;
  description?: string;
  patientScope?: RoleScope;
  permissions: string[];
}

/** Administration API: roles, access rules, OAuth clients, key rotation. */
export function registerPolicyRoutes(app: FastifyInstance, auth: AuthService, admin: AuthAdmin): void {
  const g = auth.guards;
  const actor = (request: FastifyRequest) => actorOf(request.principal as Principal);
  const meta = requestMeta;
  const tags = ['admin'];
  const security = s.bearer;

  app.get(
    `${ADMIN}/roles`,
    {
      onRequest: g.require('role:read'),
      schema: {
        tags,
        security,
        summary: 'Roles and their permissions',
        response: { 200: { type: 'array', items: s.role }, ...s.problems(401, 403) },
      },
    },
    async () => admin.policy.listRoles(),
  );

  app.post<{ Body: RoleBody }>(
    `${ADMIN}/roles`,
    {
      onRequest: g.require('role:manage'),
      schema: {
        tags,
        security,
        summary: 'Create a role',
        body: { ...roleBody, required: ['name', 'permissions'] },
        response: { 201: s.role, ...s.problems(401, 403, 409, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await admin.policy.saveRole(
            { ...request.body, name: request.body.name as string },
            'create',
            actor(request),
            meta(request),
          ),
        ),
  );

  app.put<{ Params: { name: string }; Body: RoleBody }>(
    `${ADMIN}/roles/:name`,
    {
      onRequest: g.require('role:manage'),
      schema: {
        tags,
        security,
        summary: "Replace a role's description, patient scope and permissions",
        params: nameParam,
        body: roleBody,
        response: { 200: s.role, ...s.problems(401, 403, 404, 422) },
      },
    },
    async (request) =>
      admin.policy.saveRole(
        { ...request.body, name: request.params.name },
        'update',
        actor(request),
        meta(request),
      ),
  );

  app.delete<{ Params: { name: string } }>(
    `${ADMIN}/roles/:name`,
    {
      onRequest: g.require('role:manage'),
      schema: {
        tags,
        security,
        summary: 'Delete a custom role (built-in roles cannot be deleted)',
        params: nameParam,
        response: { 204: { type: 'null' }, ...s.problems(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await admin.policy.deleteRole(request.params.name, actor(request), meta(request));
      return reply.code(204).send();
    },
  );

  app.get(
    `${ADMIN}/access-rules`,
    {
      onRequest: g.require('policy:manage'),
      schema: {
        tags,
        security,
        summary: 'Allowed hours and network allow-lists',
        response: { 200: { type: 'array', items: s.accessRule }, ...s.problems(401, 403) },
      },
    },
    async () => admin.policy.listRules(),
  );

  app.post<{ Body: Omit<AccessRule, 'id'> }>(
    `${ADMIN}/access-rules`,
    {
      onRequest: g.require('policy:manage'),
      schema: {
        tags,
        security,
        summary:
          'Add an allowed-hours or CIDR rule for a role or user (enforced at sign-in and on every request)',
        body: {
          type: 'object',
          required: ['subjectType', 'subject', 'kind'],
          additionalProperties: false,
          properties: {
            subjectType: { type: 'string', enum: ['role', 'user'] },
            subject: { type: 'string', minLength: 1, maxLength: 64 },
            kind: { type: 'string', enum: ['hours', 'network'] },
            timeZone: { type: 'string', maxLength: 64 },
            days: { type: 'array', maxItems: 7, items: { type: 'integer', minimum: 1, maximum: 7 } },
            startMinute: { type: 'integer', minimum: 0, maximum: 1440 },
            endMinute: { type: 'integer', minimum: 0, maximum: 1440 },
            cidrs: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 64 } },
            description: { type: 'string', maxLength: 500 },
          },
        },
        response: { 201: s.accessRule, ...s.problems(401, 403, 422) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await admin.policy.createRule(request.body, actor(request), meta(request))),
  );

  app.delete<{ Params: { id: string } }>(
    `${ADMIN}/access-rules/:id`,
    {
      onRequest: g.require('policy:manage'),
      schema: {
        tags,
        security,
        summary: 'Remove an access rule',
        params: s.uuidParam,
        response: { 204: { type: 'null' }, ...s.problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await admin.policy.deleteRule(request.params.id, actor(request), meta(request));
      return reply.code(204).send();
    },
  );

  app.get(
    `${ADMIN}/oauth-clients`,
    {
      onRequest: g.require('client:manage'),
      schema: {
        tags,
        security,
        summary: 'OAuth2 machine clients',
        response: { 200: { type: 'array', items: s.client }, ...s.problems(401, 403) },
      },
    },
    async () => auth.clients.list(),
  );

  app.post<{
    Body: {
      name: string;
      scopes: string[];
      roles?: string[];
      patientScope?: 'all' | 'organization' | 'none';
      organizationId?: string;
    };
  }>(
    `${ADMIN}/oauth-clients`,
    {
      onRequest: g.require('client:manage'),
      schema: {
        tags,
        security,
        summary: 'Register a machine client; the secret is returned once and stored hashed',
        body: {
          type: 'object',
          required: ['name', 'scopes'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            scopes: { type: 'array', minItems: 1, maxItems: 50, items: { type: 'string', maxLength: 100 } },
            roles: { type: 'array', maxItems: 10, items: { type: 'string' } },
            patientScope: { type: 'string', enum: ['all', 'organization', 'none'] },
            organizationId: { type: 'string', maxLength: 64 },
          },
        },
        response: {
          201: { type: 'object', properties: { client: s.client, secret: { type: 'string' } } },
          ...s.problems(401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const created = await auth.clients.register(request.body);
      await auth.deps.audit.record(
        auditEntry(meta(request), {
          action: 'client.registered',
          outcome: 'success',
          actor: actor(request),
          resource: { type: 'Client', id: created.client.id },
          details: { scopes: created.client.scopes },
        }),
      );
      reply.header('cache-control', 'no-store');
      return reply.code(201).send(created);
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${ADMIN}/oauth-clients/:id`,
    {
      onRequest: g.require('client:manage'),
      schema: {
        tags,
        security,
        summary: 'Disable a client (its tokens stop working at once)',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } },
        response: { 204: { type: 'null' }, ...s.problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await auth.clients.disable(request.params.id);
      await auth.deps.audit.record(
        auditEntry(meta(request), {
          action: 'client.disabled',
          outcome: 'success',
          actor: actor(request),
          resource: { type: 'Client', id: request.params.id },
        }),
      );
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { purpose: string } }>(
    `${ADMIN}/keys/:purpose/rotate`,
    {
      onRequest: g.requireFreshMfa(auth.deps.options.stepUpMaxAgeSeconds, 'key:manage'),
      schema: {
        tags,
        security,
        summary: 'Add a new active key for a purpose (step-up MFA); older keys stay to verify and decrypt',
        params: {
          type: 'object',
          required: ['purpose'],
          properties: { purpose: { type: 'string', enum: Object.keys(KEY_PURPOSES) } },
        },
        response: {
          201: { type: 'object', properties: { kid: { type: 'string' }, purpose: { type: 'string' } } },
          ...s.problems(401, 403),
        },
      },
    },
    async (request, reply) => {
      if (!(request.params.purpose in KEY_PURPOSES)) throw errors.notFound('Unknown key purpose');
      const key = await auth.deps.keyring.rotate(request.params.purpose as KeyPurpose);
      await auth.deps.audit.record(
        auditEntry(meta(request), {
          action: 'key.rotated',
          outcome: 'success',
          actor: actor(request),
          resource: { type: 'Key', id: key.kid },
          details: { purpose: key.purpose },
        }),
      );
      return reply.code(201).send({ kid: key.kid, purpose: key.purpose });
    },
  );
}
