import type { FastifyInstance } from 'fastify';
import type { HealthCheck } from '../observability/health.js';
import { runHealthChecks } from '../observability/health.js';
import type { Metrics } from '../observability/metrics.js';

const checkResult = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['up', 'down'] },
    durationMs: { type: 'number' },
    detail: { type: 'string' },
  },
  required: ['status', 'durationMs'],
} as const;

const readiness = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    checks: { type: 'object', additionalProperties: checkResult },
  },
  required: ['status', 'checks'],
} as const;

/** Liveness, readiness and Prometheus metrics. Exempt from rate limits: probes must not be throttled. */
export function registerSystemRoutes(
  app: FastifyInstance,
  checks: () => HealthCheck[],
  metrics: Metrics,
): void {
  app.get(
    '/health/live',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process is up and serving',
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string', enum: ['ok'] } },
            required: ['status'],
          },
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        summary: 'Readiness: every dependency answers (database, cache, object storage, disk, ...)',
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      const result = await runHealthChecks(checks());
      return reply.code(result.status === 'ok' ? 200 : 503).send(result);
    },
  );

  app.get(
    '/metrics',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
}
