import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { AuditTrail } from '../audit/port.js';
import { errors } from '../http/errors.js';
import type { DeadLetter, IrisEventBus } from './index.js';
import { PatternError } from './patterns.js';
import { UnknownSubscriberError } from './replay.js';
import { problemSchema } from '../http/schemas.js';

export interface EventAdminRouteOptions {
  /** Every admin action is recorded here once the audit module is wired. */
  audit?: AuditTrail;
}

const eventSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    type: { type: 'string' },
    schemaVersion: { type: 'integer' },
    occurredAt: { type: 'string', format: 'date-time' },
    actor: {
      type: 'object',
      nullable: true,
      properties: { type: { type: 'string', enum: ['user', 'client', 'system'] }, id: { type: 'string' } },
    },
    aggregate: { type: 'object', properties: { type: { type: 'string' }, id: { type: 'string' } } },
    correlationId: { type: 'string', nullable: true },
    causationId: { type: 'string', nullable: true },
    payload: { type: 'object', additionalProperties: true },
  },
  required: ['id', 'type', 'schemaVersion', 'occurredAt', 'aggregate', 'payload'],
} as const;

const deadLetterSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    subscriber: { type: 'string' },
    attempts: { type: 'integer' },
    lastError: { type: 'string', nullable: true },
    failedAt: { type: 'string', format: 'date-time' },
    event: eventSchema,
  },
  required: ['id', 'subscriber', 'attempts', 'failedAt', 'event'],
} as const;

const idParams = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 } },
  required: ['id'],
} as const;

const problem = problemSchema;

interface ReplayBody {
  subscriber: string;
  type?: string;
  from?: string;
  to?: string;
  aggregate?: { type: string; id: string };
}

/**
 * The admin API of the event bus under /api/v1/events: replay and the dead-letter queue.
 * `guard` runs before every route (the caller's permission check).
 */
export function registerEventAdminRoutes(
  app: FastifyInstance,
  bus: IrisEventBus,
  guard: preHandlerHookHandler,
  options: EventAdminRouteOptions = {},
): void {
  const tags = ['events'];
  const security = [{ bearerAuth: [] }];

  const audit = async (request: FastifyRequest, action: string, details: Record<string, unknown>) => {
    await options.audit?.record({
      action,
      outcome: 'success',
      actor: request.userId ? { type: 'user', id: request.userId } : null,
      requestId: request.id,
      sourceIp: request.ip,
      userAgent: request.headers['user-agent'],
      details,
    });
  };

  const deadLetter = async (id: number): Promise<DeadLetter> => {
    const letter = await bus.deadLetters.get(id);
    if (!letter) throw errors.notFound(`No dead letter with id ${id}`);
    return letter;
  };

  app.get<{ Querystring: { subscriber?: string; type?: string; limit: number; before?: number } }>(
    '/api/v1/events/dlq',
    {
      preHandler: guard,
      schema: {
        tags,
        security,
        summary: 'List dead-lettered deliveries, newest first',
        querystring: {
          type: 'object',
          properties: {
            subscriber: { type: 'string' },
            type: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            before: { type: 'integer', minimum: 1, description: 'page: entries with a smaller id' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: { type: 'array', items: deadLetterSchema },
              next: { type: 'integer', nullable: true },
            },
            required: ['items'],
          },
        },
      },
    },
    async (request) => {
      const { limit } = request.query;
      const items = await bus.deadLetters.list(request.query);
      await audit(request, 'events.dlq.list', { count: items.length, subscriber: request.query.subscriber });
      return { items, next: items.length === limit ? (items.at(-1)?.id ?? null) : null };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/api/v1/events/dlq/:id',
    {
      preHandler: guard,
      schema: {
        tags,
        security,
        summary: 'One dead letter with its event',
        params: idParams,
        response: { 200: deadLetterSchema, 404: problem },
      },
    },
    async (request) => {
      const letter = await deadLetter(request.params.id);
      await audit(request, 'events.dlq.show', { deliveryId: letter.id, eventId: letter.event.id });
      return letter;
    },
  );

  app.post<{ Params: { id: number } }>(
    '/api/v1/events/dlq/:id/retry',
    {
      preHandler: guard,
      schema: {
        tags,
        security,
        summary: 'Put a dead letter back in line with fresh attempts',
        params: idParams,
        response: {
          202: { type: 'object', properties: { id: { type: 'integer' }, status: { type: 'string' } } },
          404: problem,
        },
      },
    },
    async (request, reply) => {
      const letter = await deadLetter(request.params.id);
      if (!(await bus.deadLetters.retry(letter.id)))
        throw errors.notFound(`No dead letter with id ${letter.id}`);
      await audit(request, 'events.dlq.retry', {
        deliveryId: letter.id,
        subscriber: letter.subscriber,
        eventId: letter.event.id,
      });
      return reply.code(202).send({ id: letter.id, status: 'pending' });
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/api/v1/events/dlq/:id',
    {
      preHandler: guard,
      schema: {
        tags,
        security,
        summary: 'Discard a dead letter (kept as discarded, never delivered)',
        params: idParams,
        response: { 204: { type: 'null' }, 404: problem },
      },
    },
    async (request, reply) => {
      const letter = await deadLetter(request.params.id);
      if (!(await bus.deadLetters.discard(letter.id)))
        throw errors.notFound(`No dead letter with id ${letter.id}`);
      await audit(request, 'events.dlq.discard', {
        deliveryId: letter.id,
        subscriber: letter.subscriber,
        eventId: letter.event.id,
      });
      return reply.code(204).send();
    },
  );

  app.post<{ Body: ReplayBody }>(
    '/api/v1/events/replay',
    {
      preHandler: guard,
      schema: {
        tags,
        security,
        summary: 'Deliver stored events again to one subscriber, by type, time range or aggregate',
        body: {
          type: 'object',
          properties: {
            subscriber: { type: 'string', minLength: 1 },
            type: { type: 'string', description: 'event type or pattern (`immunization.*`)' },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time', description: 'inclusive' },
            aggregate: {
              type: 'object',
              properties: { type: { type: 'string', minLength: 1 }, id: { type: 'string', minLength: 1 } },
              required: ['type', 'id'],
              additionalProperties: false,
            },
          },
          required: ['subscriber'],
          additionalProperties: false,
        },
        response: {
          202: { type: 'object', properties: { scheduled: { type: 'integer' } }, required: ['scheduled'] },
          400: problem,
          404: problem,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const from = body.from ? new Date(body.from) : undefined;
      const to = body.to ? new Date(body.to) : undefined;
      if (from && to && from > to) throw errors.badRequest('`from` is after `to`');
      let scheduled: number;
      try {
        scheduled = await bus.replay({
          subscriber: body.subscriber,
          type: body.type,
          from,
          to,
          aggregate: body.aggregate,
        });
      } catch (error) {
        if (error instanceof UnknownSubscriberError) throw errors.notFound(error.message);
        if (error instanceof PatternError) throw errors.badRequest(error.message);
        throw error;
      }
      await audit(request, 'events.replay', { ...body, scheduled });
      return reply.code(202).send({ scheduled });
    },
  );

  app.get<{ Querystring: { job?: string; limit: number } }>(
    '/api/v1/events/jobs',
    {
      preHandler: guard,
      schema: {
        tags,
        security,
        summary: 'Scheduled jobs and their latest runs, newest first',
        querystring: {
          type: 'object',
          properties: {
            job: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              jobs: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    cron: { type: 'string' },
                    timezone: { type: 'string', nullable: true },
                  },
                },
              },
              runs: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'integer' },
                    job: { type: 'string' },
                    scheduledFor: { type: 'string', format: 'date-time' },
                    owner: { type: 'string' },
                    status: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
                    error: { type: 'string', nullable: true },
                    startedAt: { type: 'string', format: 'date-time' },
                    finishedAt: { type: 'string', format: 'date-time', nullable: true },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => ({
      jobs: bus.jobs(),
      runs: await bus.jobHistory(request.query.job, request.query.limit),
    }),
  );

  app.get(
    '/api/v1/events/subscribers',
    {
      preHandler: guard,
      schema: {
        tags,
        security,
        summary: 'Open deliveries, lag and dead letters per subscriber',
        response: {
          200: {
            type: 'object',
            properties: {
              subscribers: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    subscriber: { type: 'string' },
                    pending: { type: 'integer' },
                    leased: { type: 'integer' },
                    retryWait: { type: 'integer' },
                    dead: { type: 'integer' },
                    lagSeconds: { type: 'number' },
                  },
                },
              },
            },
          },
        },
      },
    },
    async () => ({ subscribers: await bus.queueStats() }),
  );
}
