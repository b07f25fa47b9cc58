import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Resource } from 'fhir/r4.js';
import type { AccessGuards, PatientScope } from '../../../platform/auth/port.js';
import { fhirPermission } from '../../../platform/auth/port.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { errors } from '../../../platform/http/errors.js';
import type { CallContext } from '../store/context.js';
import { parseElements, parseSummary, shapeResource } from './shape.js';

/** How the routes learn who is calling; wired by the composition root to the identity module. */
export interface FhirAccess {
  guards?: AccessGuards;
  /** The patient scope of a request; defaults to the principal's scope. */
  scopeOf?: (request: FastifyRequest) => PatientScope;
}

export type Query = Record<string, string | string[] | undefined>;

type Action = 'read' | 'write' | 'delete';

export function callContext(request: FastifyRequest, access: FhirAccess): CallContext {
  const principal = request.principal;
  // Without guards (auth not wired) the API is open, as in development; with guards, a request
  // that reached a handler without a principal sees nothing.
  const scope: PatientScope =
    access.scopeOf?.(request) ?? principal?.scope ?? (access.guards ? { kind: 'none' } : { kind: 'all' });
  const ua = request.headers['user-agent'];
  return {
    actor: principal ? { type: principal.kind, id: principal.id } : null,
    scope,
    requestId: request.id,
    sourceIp: request.ip,
    ...(typeof ua === 'string' ? { userAgent: ua } : {}),
    ...(access.guards
      ? {
          can: (type: string, action: Action) =>
            principal?.permissions.has(fhirPermission(type, action)) ?? false,
        }
      : {}),
  };
}

/** A preHandler checking the permission for the type named in the URL (no-op without guards). */
export function guardFor(access: FhirAccess, action: Action, fixedType?: string): preHandlerAsyncHookHandler {
  const cache = new Map<string, preHandlerAsyncHookHandler>();
  return async function (this: unknown, request, reply) {
    if (!access.guards) return;
    const type = fixedType ?? (request.params as { type?: string }).type ?? 'Bundle';
    const permission = fhirPermission(type, action);
    let guard = cache.get(permission);
    if (!guard) {
      guard = access.guards.require(permission);
      cache.set(permission, guard);
    }
    await guard.call(this as never, request, reply);
  };
}

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/** 406 for anything but JSON, asked through `_format` or `Accept`. */
export function negotiate(request: FastifyRequest): void {
  const format = (request.query as Query)?._format;
  if (typeof format === 'string' && !JSON_FORMATS.has(format.split(';')[0]?.trim().toLowerCase() ?? '')) {
    throw errors.notAcceptable(`_format ${format} is not served; this server speaks application/fhir+json`);
  }
  const accept = request.headers.accept;
  if (!accept || format) return;
  const ok = accept.split(',').some((part) => {
    const type = part.split(';')[0]?.trim().toLowerCase() ?? '';
    return type === '*/*' || type === 'application/*' || JSON_FORMATS.has(type);
  });
  if (!ok)
    throw errors.notAcceptable(`Accept ${accept} is not served; this server speaks application/fhir+json`);
}

export interface Prefer {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
  respondAsync: boolean;
}

export function parsePrefer(request: FastifyRequest): Prefer {
  const header = request.headers.prefer;
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  const prefer: Prefer = { respondAsync: false };
  for (const part of text.split(/[,;]/)) {
    const [key, raw] = part.split('=').map((s) => s.trim());
    const value = raw?.replace(/"/g, '');
    if (
      key === 'return' &&
      (value === 'minimal' || value === 'representation' || value === 'OperationOutcome')
    )
      prefer.return = value;
    if (key === 'handling' && (value === 'strict' || value === 'lenient')) prefer.handling = value;
    if (key === 'respond-async') prefer.respondAsync = true;
  }
  return prefer;
}

export function etag(versionId: string): string {
  return `W/"${versionId}"`;
}

/** Sends one resource with its version headers, honouring `_summary`, `_elements` and Prefer. */
export function sendResource(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  result: { resource: Resource; versionId: string; lastUpdated: Date },
  options: { location?: string; prefer?: Prefer } = {},
): FastifyReply {
  reply.code(status).type(FHIR_JSON);
  reply.header('etag', etag(result.versionId));
  reply.header('last-modified', result.lastUpdated.toUTCString());
  if (options.location) reply.header('location', options.location);
  const query = (request.query ?? {}) as Query;
  const preferred = options.prefer?.return;
  if (preferred === 'minimal') return reply.send('');
  if (preferred === 'OperationOutcome') {
    return reply.send({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'information',
          code: 'informational',
          diagnostics: `${result.resource.resourceType}/${result.resource.id} version ${result.versionId} stored`,
        },
      ],
    });
  }
  return reply.send(
    shapeResource(result.resource, parseSummary(query._summary), parseElements(query._elements)),
  );
}

export function requireJsonBody(request: FastifyRequest): unknown {
  if (request.body === undefined || request.body === null || typeof request.body !== 'object') {
    throw errors.badRequest('the request needs a JSON body (application/fhir+json)');
  }
  return request.body;
}
