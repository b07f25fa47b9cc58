import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IrisError } from './errors.js';

export const PROBLEM_JSON = 'application/problem+json';
export const FHIR_JSON = 'application/fhir+json';

/** Requests under /fhir speak FHIR; everything else speaks RFC 7807. */
export function isFhirRequest(url: string): boolean {
  return url === '/fhir' || url.startsWith('/fhir/') || url.startsWith('/fhir?');
}

function path(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function operationOutcome(error: IrisError) {
  const issues =
    error.details.length > 0
      ? error.details.map((d) => ({
          severity: 'error' as const,
          code: error.fhirIssue,
          diagnostics: d.message,
          ...(d.location ? { expression: [d.location] } : {}),
        }))
      : [{ severity: 'error' as const, code: error.fhirIssue, diagnostics: error.message }];
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function problemDetails(error: IrisError, request: FastifyRequest) {
  return {
    type: `urn:iris:problem:${error.code
      .replace(/^IRIS_/, '')
      .toLowerCase()
      .replaceAll('_', '-')}`,
    title: error.title,
    status: error.statusCode,
    detail: error.message,
    instance: path(request.url),
    code: error.code,
    requestId: request.id,
    ...(error.details.length > 0
      ? { errors: error.details.map((d) => ({ pointer: d.location, detail: d.message })) }
      : {}),
  };
}

/** Sends `error` in the shape the request's API speaks. */
export function sendError(error: IrisError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.code(error.statusCode);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  if (isFhirRequest(request.url)) {
    return reply.type(FHIR_JSON).send(operationOutcome(error));
  }
  return reply.type(PROBLEM_JSON).send(problemDetails(error, request));
}
