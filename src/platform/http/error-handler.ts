import type { FastifyError, FastifyInstance } from 'fastify';
import { isAccessRefused } from '../db/sql-errors.js';
import { errors, IrisError } from './errors.js';
import { sendError } from './error-response.js';

/** Translates whatever a route or Fastify itself threw into a catalogued IrisError. */
export function toIrisError(error: FastifyError | Error): IrisError {
  if (error instanceof IrisError) return error;
  if (isAccessRefused(error)) return errors.forbidden(error.message);
  const fe = error as FastifyError & {
    validation?: Array<{ instancePath?: string; message?: string; params?: unknown }>;
  };
  if (fe.validation) {
    const details = fe.validation.map((v) => ({
      location: v.instancePath || (fe.validationContext ? `/${fe.validationContext}` : undefined),
      message: `${fe.validationContext ?? 'request'}${v.instancePath ?? ''} ${v.message ?? 'is invalid'}`,
    }));
    return errors.validation('The request does not match the schema of this endpoint', details);
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.payloadTooLarge('The request body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.unsupportedMediaType('The content type of the body is not supported; send JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return errors.malformedBody('The body is empty but its content type is JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return errors.malformedBody(fe.message);
  }
  if (error instanceof SyntaxError || fe.statusCode === 400) {
    return errors.malformedBody(
      error instanceof SyntaxError ? `The body is not valid JSON: ${error.message}` : fe.message,
    );
  }
  if (fe.statusCode === 429) return errors.tooManyRequests(fe.message);
  if (fe.statusCode === 413) return errors.payloadTooLarge(fe.message);
  if (fe.statusCode === 415) return errors.unsupportedMediaType(fe.message);
  if (fe.statusCode === 404) return errors.notFound(fe.message);
  if (fe.statusCode === 405) return errors.methodNotAllowed(fe.message);
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new IrisError('IRIS_CLIENT_ERROR', fe.statusCode, 'Bad request', fe.message, 'invalid');
  }
  return errors.internal('An unexpected error occurred; quote the request id when reporting it');
}

/** One error mapper for the whole app. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const mapped = toIrisError(error as FastifyError);
    if (mapped.statusCode >= 500) {
      request.log.error({ err: error, code: mapped.code }, 'request failed');
    } else {
      request.log.info({ code: mapped.code, status: mapped.statusCode }, 'request rejected');
    }
    return sendError(mapped, request, reply);
  });
}

/** Unknown routes answer in the API's shape and count against the rate limit (scanners probe 404s). */
export function registerNotFoundHandler(app: FastifyInstance): void {
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, (request, reply) =>
    sendError(
      errors.routeNotFound(`No route matches ${request.method} ${request.url.split('?')[0]}`),
      request,
      reply,
    ),
  );
}
