import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  callContext,
  guardFor,
  parsePrefer,
  requireJsonBody,
  sendResource,
  type Query,
} from '../http/request.js';
import { conditionalUpdate } from '../store/conditional.js';
import { updateResource, type WriteResult } from '../store/write.js';
import { assertType, locationOf, type InstanceParams, type RouteDeps, type TypeParams } from './common.js';

function send(deps: RouteDeps, request: FastifyRequest, reply: FastifyReply, type: string, r: WriteResult) {
  const location = locationOf(deps.rt, type, r.resource.id as string, r.versionId);
  return sendResource(request, reply, r.created ? 201 : 200, r, { prefer: parsePrefer(request), location });
}

function ifMatch(request: FastifyRequest) {
  const header = request.headers['if-match'];
  return typeof header === 'string' ? { ifMatch: header } : {};
}

/** update: PUT [base]/Type/id (201 when it creates), and conditional update PUT [base]/Type?criteria. */
export function registerUpdate(deps: RouteDeps): void {
  const { app, rt, access, caps } = deps;
  caps.type.add('update');
  caps.features.add('update-create');
  caps.features.add('conditional-update');
  caps.features.add('if-match');
  app.put<{ Params: InstanceParams }>(
    '/fhir/:type/:id',
    { preHandler: guardFor(access, 'write'), schema: { hide: true } },
    async (request, reply) => {
      const { type, id } = request.params;
      assertType(rt, type);
      const body = requireJsonBody(request);
      const ctx = callContext(request, access);
      const r = await rt.db.transaction((tx) =>
        updateResource(rt, ctx, tx, body, type, id, ifMatch(request)),
      );
      return send(deps, request, reply, type, r);
    },
  );
  app.put<{ Params: TypeParams }>(
    '/fhir/:type',
    { preHandler: guardFor(access, 'write'), schema: { hide: true } },
    async (request, reply) => {
      const { type } = request.params;
      assertType(rt, type);
      const body = requireJsonBody(request);
      const ctx = callContext(request, access);
      const query = request.query as Query;
      const r = await rt.db.transaction((tx) =>
        conditionalUpdate(rt, ctx, tx, body, type, query, ifMatch(request)),
      );
      return send(deps, request, reply, type, r);
    },
  );
}
