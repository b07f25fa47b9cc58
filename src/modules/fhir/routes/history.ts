import type { FastifyRequest } from 'fastify';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { callContext, guardFor, type Query } from '../http/request.js';
import { history, type HistoryRequest } from '../store/history.js';
import { assertType, type InstanceParams, type RouteDeps, type TypeParams } from './common.js';

function options(request: FastifyRequest): HistoryRequest {
  const q = request.query as Query;
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[v.length - 1] : v);
  const out: HistoryRequest = {};
  const since = one(q._since);
  const count = one(q._count);
  const cursor = one(q._cursor);
  if (since) out.since = since;
  if (count) out.count = count;
  if (cursor) out.cursor = cursor;
  return out;
}

/** history: instance, type and system (`_since`, `_count`, next links). */
export function registerHistory({ app, rt, access, caps }: RouteDeps): void {
  caps.type.add('history-instance');
  caps.type.add('history-type');
  caps.system.add('history-system');
  const self = (request: FastifyRequest) => `${rt.baseUrl}${request.url.replace(/^\/fhir/, '')}`;
  app.get<{ Params: InstanceParams }>(
    '/fhir/:type/:id/_history',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => {
      const { type, id } = request.params;
      assertType(rt, type);
      const body = await history(
        rt,
        callContext(request, access),
        { ...options(request), type, id },
        self(request),
      );
      return reply.type(FHIR_JSON).send(body);
    },
  );
  app.get<{ Params: TypeParams }>(
    '/fhir/:type/_history',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => {
      const { type } = request.params;
      assertType(rt, type);
      const body = await history(
        rt,
        callContext(request, access),
        { ...options(request), type },
        self(request),
      );
      return reply.type(FHIR_JSON).send(body);
    },
  );
  app.get(
    '/fhir/_history',
    { preHandler: guardFor(access, 'read', 'Bundle'), schema: { hide: true } },
    async (request, reply) => {
      const body = await history(rt, callContext(request, access), options(request), self(request));
      return reply.type(FHIR_JSON).send(body);
    },
  );
}
