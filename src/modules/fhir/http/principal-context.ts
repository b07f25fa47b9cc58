import type { FastifyRequest } from 'fastify';
import { fhirPermission } from '../../../platform/auth/port.js';
import type { CallContext } from '../store/context.js';

/**
 * Who is asking, for other modules' routes that use the FHIR store: the principal's actor,
 * patient scope and permissions, as the FHIR routes build them. A request without a principal
 * sees nothing (the route's guard has already answered 401 in that case).
 */
export function requestCallContext(request: FastifyRequest): CallContext {
  const principal = request.principal;
  const ua = request.headers['user-agent'];
  return {
    actor: principal ? { type: principal.kind, id: principal.id } : null,
    scope: principal?.scope ?? { kind: 'none' },
    requestId: request.id,
    sourceIp: request.ip,
    ...(typeof ua === 'string' ? { userAgent: ua } : {}),
    can: (type, action) => principal?.permissions.has(fhirPermission(type, action)) ?? false,
  };
}
