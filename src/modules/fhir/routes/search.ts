import type { FastifyReply, FastifyRequest } from 'fastify';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { callContext, guardFor, parsePrefer, type Query } from '../http/request.js';
import { parseElements, parseSummary } from '../http/shape.js';
import { searchsetBundle } from '../search/bundle.js';
import { runSearch } from '../search/execute.js';
import { parseSearch } from '../search/parse.js';
import { assertType, type RouteDeps, type TypeParams } from './common.js';

async function search(
  deps: RouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  type: string,
  query: Query,
) {
  const { rt, access } = deps;
  assertType(rt, type);
  const strict = parsePrefer(request).handling === 'strict';
  const searchRequest = parseSearch(rt.registry, type, query, strict);
  const summary = parseSummary(query._summary);
  const elements = parseElements(query._elements);
  const outcome = await runSearch(rt, callContext(request, access), searchRequest, {
    countOnly: summary === 'count',
  });
  const bundle = searchsetBundle(outcome, {
    baseUrl: rt.baseUrl,
    path: type,
    query,
    ignored: searchRequest.ignored,
    ...(summary ? { summary } : {}),
    ...(elements ? { elements } : {}),
  });
  return reply.type(FHIR_JSON).send(bundle);
}

/** search: GET [base]/Type?params and POST [base]/Type/_search (form-encoded parameters). */
export function registerSearch(deps: RouteDeps): void {
  const { app, access, caps } = deps;
  caps.type.add('search-type');
  app.get<{ Params: TypeParams }>(
    '/fhir/:type',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => search(deps, request, reply, request.params.type, request.query as Query),
  );
  app.post<{ Params: TypeParams }>(
    '/fhir/:type/_search',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => {
      const body = (request.body ?? {}) as Query;
      const merged: Query = { ...(request.query as Query) };
      for (const [k, v] of Object.entries(body)) merged[k] = v;
      return search(deps, request, reply, request.params.type, merged);
    },
  );
}
