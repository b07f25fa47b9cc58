import type { FastifyReply } from 'fastify';
import { etag, callContext, guardFor, type Query } from '../http/request.js';
import { conditionalDelete } from '../store/conditional.js';
import { deleteResource, type WriteResult } from '../store/write.js';
import { assertType, type InstanceParams, type RouteDeps, type TypeParams } from './common.js';

function answer(reply: FastifyReply, r: WriteResult | null) {
  if (r) reply.header('etag', etag(r.versionId));
  return reply.code(204).send();
}

/** delete: DELETE [base]/Type/id (a new, deleted version) and conditional DELETE [base]/Type?criteria. */
export function registerDelete({ app, rt, access, caps }: RouteDeps): void {
  caps.type.add('delete');
  caps.features.add('conditional-delete');
  app.delete<{ Params: InstanceParams }>(
    '/fhir/:type/:id',
    { preHandler: guardFor(access, 'delete'), schema: { hide: true } },
    async (request, reply) => {
      const { type, id } = request.params;
      assertType(rt, type);
      const header = request.headers['if-match'];
      const ctx = callContext(request, access);
      const r = await rt.db.transaction((tx) =>
        deleteResource(rt, ctx, tx, type, id, typeof header === 'string' ? { ifMatch: header } : {}),
      );
      return answer(reply, r);
    },
  );
  app.delete<{ Params: TypeParams }>(
    '/fhir/:type',
    { preHandler: guardFor(access, 'delete'), schema: { hide: true } },
    async (request, reply) => {
      const { type } = request.params;
      assertType(rt, type);
      const ctx = callContext(request, access);
      const query = request.query as Query;
      const r = await rt.db.transaction((tx) => conditionalDelete(rt, ctx, tx, type, query));
      return answer(reply, r);
    },
  );
}
