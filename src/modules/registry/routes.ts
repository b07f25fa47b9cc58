import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { problemResponses } from '../../platform/http/schemas.js';
import { requestCallContext } from '../fhir/index.js';
import type { EndpointInput } from './endpoints.js';
import type { RegistryService } from './service.js';

const BASE = '/api/v1/registry';
const tags = ['registry'];
const security = [{ bearerAuth: [] }];

/** Permissions of the registry API. */
export const REGISTRY_PERMISSIONS = {
  manage: 'registry:manage',
  submit: 'registry:submit',
  read: 'registry:read',
} as const;

export type Guard = (...permissions: string[]) => preHandlerAsyncHookHandler;

const idParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9\\-.]+$' } },
} as const;

const credentials = {
  oneOf: [
    {
      type: 'object',
      required: ['kind'],
      additionalProperties: false,
      properties: {
        kind: { const: 'soap' },
        username: { type: 'string', maxLength: 200 },
        password: { type: 'string', maxLength: 500 },
        facilityId: { type: 'string', maxLength: 200 },
      },
    },
    {
      type: 'object',
      required: ['kind', 'tokenUrl', 'clientId', 'clientSecret'],
      additionalProperties: false,
      properties: {
        kind: { const: 'oauth2' },
        tokenUrl: { type: 'string', maxLength: 2000 },
        clientId: { type: 'string', minLength: 1, maxLength: 500 },
        clientSecret: { type: 'string', minLength: 1, maxLength: 2000 },
        scope: { type: 'string', maxLength: 1000 },
      },
    },
    {
      type: 'object',
      required: ['kind', 'secret'],
      additionalProperties: false,
      properties: { kind: { const: 'hmac' }, secret: { type: 'string', minLength: 16, maxLength: 2000 } },
    },
    {
      type: 'object',
      required: ['kind'],
      additionalProperties: false,
      properties: { kind: { const: 'none' } },
    },
  ],
} as const;

const hl7Text = { type: 'string', minLength: 1, maxLength: 180, pattern: '^[^|^~\\\\&\\r\\n]+$' } as const;

const endpointBody = {
  type: 'object',
  required: ['name', 'transport', 'url', 'sender'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    transport: { enum: ['cdc-soap', 'fhir'] },
    url: { type: 'string', minLength: 8, maxLength: 2000 },
    sender: {
      type: 'object',
      required: ['facility'],
      additionalProperties: false,
      properties: { application: hl7Text, facility: hl7Text },
    },
    receiver: {
      type: 'object',
      additionalProperties: false,
      properties: { application: hl7Text, facility: hl7Text },
    },
    processingId: { enum: ['P', 'T', 'D'] },
    credentials,
    timeoutMs: { type: 'integer', minimum: 100, maximum: 120_000 },
    rateLimitPerSecond: { type: 'integer', minimum: 0, maximum: 10_000 },
    maxConcurrent: { type: 'integer', minimum: 1, maximum: 256 },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 100 },
    enabled: { type: 'boolean' },
  },
} as const;

const endpointView = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    transport: { type: 'string' },
    url: { type: 'string' },
    credentials: {
      type: 'object',
      additionalProperties: false,
      properties: { kind: { type: 'string' }, configured: { type: 'boolean' } },
    },
    enabled: { type: 'boolean' },
    revision: { type: 'integer' },
  },
} as const;

const submission = { type: 'object', additionalProperties: true } as const;

/** The registry API: endpoints, submissions, work items, queries, reconciliation, breakers. */
export function registerRegistryRoutes(app: FastifyInstance, service: RegistryService, guard: Guard): void {
  const { manage, submit, read } = REGISTRY_PERMISSIONS;

  app.get(
    `${BASE}/endpoints`,
    {
      onRequest: guard(manage),
      schema: {
        tags,
        security,
        summary: 'List registry endpoints (credentials never shown)',
        response: { 200: { type: 'array', items: endpointView }, ...problemResponses(401, 403) },
      },
    },
    async () => service.endpoints.list(),
  );
  app.post<{ Body: EndpointInput }>(
    `${BASE}/endpoints`,
    {
      onRequest: guard(manage),
      schema: {
        tags,
        security,
        summary: 'Configure a registry endpoint',
        body: endpointBody,
        response: { 201: endpointView, ...problemResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await service.createEndpoint(requestCallContext(request), request.body)),
  );
  app.get<{ Params: { id: string } }>(
    `${BASE}/endpoints/:id`,
    {
      onRequest: guard(manage),
      schema: {
        tags,
        security,
        summary: 'One registry endpoint',
        params: idParam,
        response: { 200: endpointView, ...problemResponses(401, 403, 404) },
      },
    },
    async (request) => service.endpoints.get(request.params.id),
  );
  app.put<{ Params: { id: string }; Body: EndpointInput }>(
    `${BASE}/endpoints/:id`,
    {
      onRequest: guard(manage),
      schema: {
        tags,
        security,
        summary: 'Replace an endpoint (omitted credentials are kept)',
        params: idParam,
        body: endpointBody,
        response: { 200: endpointView, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => service.updateEndpoint(requestCallContext(request), request.params.id, request.body),
  );
  app.delete<{ Params: { id: string } }>(
    `${BASE}/endpoints/:id`,
    {
      onRequest: guard(manage),
      schema: {
        tags,
        security,
        summary: 'Delete an unused endpoint',
        params: idParam,
        response: { ...problemResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.removeEndpoint(requestCallContext(request), request.params.id);
      return reply.code(204).send();
    },
  );
  app.post<{ Params: { id: string } }>(
    `${BASE}/endpoints/:id/test`,
    {
      onRequest: guard(manage),
      schema: {
        tags,
        security,
        summary: 'Connectivity test (CDC connectivityTest or FHIR metadata)',
        params: idParam,
        response: { ...problemResponses(401, 403, 404, 502, 503) },
      },
    },
    async (request) => service.testEndpoint(request.params.id),
  );
  app.get(
    `${BASE}/breakers`,
    {
      onRequest: guard(read),
      schema: {
        tags,
        security,
        summary: 'Circuit breaker state per registry (this process)',
        response: { ...problemResponses(401, 403) },
      },
    },
    async () => service.breakers(),
  );
  app.get<{ Querystring: { since?: string } }>(
    `${BASE}/status`,
    {
      onRequest: guard(read),
      schema: {
        tags,
        security,
        summary: 'Sync status: submissions per registry and status, open work items, breakers',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'string', format: 'date-time' } },
        },
        response: { ...problemResponses(400, 401, 403) },
      },
    },
    async (request) => service.summary(request.query.since ? new Date(request.query.since) : undefined),
  );
  app.post<{ Params: { id: string }; Querystring: { endpointId?: string } }>(
    `${BASE}/immunizations/:id/submit`,
    {
      onRequest: guard(submit),
      schema: {
        tags,
        security,
        summary: 'Queue the current version of a dose for one (endpointId) or every enabled registry',
        params: idParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { endpointId: { type: 'string', maxLength: 64 } },
        },
        response: { 202: { type: 'array', items: submission }, ...problemResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(await service.submit(requestCallContext(request), request.params.id, request.query.endpointId)),
  );
  app.get<{ Params: { id: string } }>(
    `${BASE}/immunizations/:id/submissions`,
    {
      onRequest: guard(read),
      schema: {
        tags,
        security,
        summary: 'Submission history of a dose, with every attempt',
        params: idParam,
        response: { 200: { type: 'array', items: submission }, ...problemResponses(401, 403, 404) },
      },
    },
    async (request) => service.history(requestCallContext(request), request.params.id),
  );
  app.get<{
    Querystring: {
      status?: 'rejected' | 'failed';
      endpointId?: string;
      includeResolved?: boolean;
      limit?: number;
      cursor?: string;
    };
  }>(
    `${BASE}/work-items`,
    {
      onRequest: guard(submit),
      schema: {
        tags,
        security,
        summary: 'Rejected and failed submissions waiting for someone (newest first, cursor paging)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { enum: ['rejected', 'failed'] },
            endpointId: { type: 'string', maxLength: 64 },
            includeResolved: { type: 'boolean' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            cursor: { type: 'string', pattern: '^[0-9]{1,18}$' },
          },
        },
        response: { ...problemResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      return service.workItems({
        limit: q.limit ?? 50,
        ...(q.status ? { status: q.status } : {}),
        ...(q.endpointId ? { endpointId: q.endpointId } : {}),
        ...(q.includeResolved ? { includeResolved: true } : {}),
        ...(q.cursor ? { after: Number(q.cursor) } : {}),
      });
    },
  );
  app.post<{ Params: { id: string } }>(
    `${BASE}/submissions/:id/retry`,
    {
      onRequest: guard(submit),
      schema: {
        tags,
        security,
        summary: 'Send a rejected or failed dose again, as it is now',
        params: idParam,
        response: { 202: submission, ...problemResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await service.retry(requestCallContext(request), request.params.id)),
  );
  app.post<{ Params: { id: string } }>(
    `${BASE}/submissions/:id/resolve`,
    {
      onRequest: guard(submit),
      schema: {
        tags,
        security,
        summary: 'Close a work item without resending',
        params: idParam,
        response: { 200: submission, ...problemResponses(401, 403, 404, 409) },
      },
    },
    async (request) => service.resolve(requestCallContext(request), request.params.id),
  );
  const patientBody = {
    type: 'object',
    required: ['endpointId'],
    additionalProperties: false,
    properties: {
      endpointId: { type: 'string', minLength: 1, maxLength: 64 },
      profile: { enum: ['Z34', 'Z44'] },
    },
  } as const;
  app.post<{ Params: { id: string }; Body: { endpointId: string; profile?: 'Z34' | 'Z44' } }>(
    `${BASE}/patients/:id/query`,
    {
      onRequest: guard(submit, 'patient:read', 'immunization:read'),
      schema: {
        tags,
        security,
        summary: "Pull a patient's history from a registry (QBP Z34/Z44 or FHIR search)",
        params: idParam,
        body: patientBody,
        response: { ...problemResponses(400, 401, 403, 404, 502, 503) },
      },
    },
    async (request) =>
      service.query(
        requestCallContext(request),
        request.params.id,
        request.body.endpointId,
        request.body.profile ?? 'Z34',
      ),
  );
  app.post<{ Params: { id: string }; Body: { endpointId: string } }>(
    `${BASE}/patients/:id/reconcile`,
    {
      onRequest: guard(submit, 'patient:read', 'immunization:write'),
      schema: {
        tags,
        security,
        summary: 'Import the registry doses the record lacks, as historical doses with Provenance',
        params: idParam,
        body: { ...patientBody, properties: { endpointId: patientBody.properties.endpointId } },
        response: { ...problemResponses(400, 401, 403, 404, 502, 503) },
      },
    },
    async (request) =>
      service.reconcile(requestCallContext(request), request.params.id, request.body.endpointId),
  );
}
