import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import type { Logger } from '../observability/logger.js';
import { redactQuery } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { registerErrorHandler, registerNotFoundHandler } from './error-handler.js';
import { staticSecurityHeaders } from './security-headers.js';
import { errors } from './errors.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface HttpOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Shared rate-limit counters across processes; in-process counters when absent. */
  redis?: Redis;
  version: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by authentication once the caller is known; logged with the request. */
    userId?: string;
  }
}

/**
 * The Fastify app with the cross-cutting concerns every route shares: request ids, security
 * headers, CORS, rate limits, body limits, structured access logs, metrics, OpenAPI and one
 * error mapper. Routes are added by the caller; `inject` works on the result for tests.
 */
export async function createHttpApp(options: HttpOptions): Promise<FastifyInstance> {
  const { config, logger, metrics } = options;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's own request lines print the raw URL, which carries PHI; we log our own (onResponse).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.http.bodyLimit,
    trustProxy: config.http.trustProxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  });

  registerErrorHandler(app);
  // Declared up front so every request object has the same shape (V8 keeps one hidden class).
  app.decorateRequest('principal', undefined);
  app.decorateRequest('userId', undefined);

  // FHIR bodies are JSON under their own media types.
  app.addContentTypeParser(
    ['application/fhir+json', 'application/json-patch+json'],
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );

  const securityHeaders = staticSecurityHeaders();
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(securityHeaders);
    reply.header('x-request-id', request.id);
    done();
  });

  // Access lines hold only fields built here (route pattern, redacted query), so they skip the
  // path-by-path redaction of the main logger, which would otherwise dominate a small request.
  const accessLog = logger.child({}, { redact: [] });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    accessLog.info(
      {
        reqId: request.id,
        method: request.method,
        route,
        query: redactQuery(request.url),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        userId: request.userId,
        ip: request.ip,
      },
      'request completed',
    );
    done();
  });

  await app.register(cors, {
    origin: config.http.corsOrigins.length > 0 ? config.http.corsOrigins : false,
    credentials: true,
    exposedHeaders: ['x-request-id', 'location', 'etag', 'last-modified', 'content-location'],
  });

  await app.register(rateLimit, {
    global: true,
    max: config.http.rateLimit.max,
    timeWindow: config.http.rateLimit.window,
    ...(options.redis ? { redis: options.redis, nameSpace: 'iris-rate-limit:' } : {}),
    errorResponseBuilder: (_request, context) => {
      const error = errors.tooManyRequests(
        `Rate limit of ${context.max} requests per ${context.after} exceeded`,
      );
      return Object.assign(error, { statusCode: 429 });
    },
  });

  registerNotFoundHandler(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'IRIS Health API',
        version: options.version,
        description: 'Platform API (RFC 7807 errors). The FHIR R4 API lives under /fhir; see /fhir/metadata.',
      },
      servers: [{ url: config.http.publicUrl }],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header) => header.replace("frame-ancestors 'self'", "frame-ancestors 'none'"),
    uiConfig: { deepLinking: true },
  });

  app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () =>
    app.swagger(),
  );

  return app;
}
