import { callContext, guardFor, parsePrefer, requireJsonBody, sendResource } from '../http/request.js';
import { conditionalCreate } from '../store/conditional.js';
import { createResource } from '../store/write.js';
import { assertType, locationOf, type RouteDeps, type TypeParams } from './common.js';

/** create: POST [base]/Type, conditional with If-None-Exist (200 with the match, or 201). */
export function registerCreate({ app, rt, access, caps }: RouteDeps): void {
  caps.type.add('create');
  caps.features.add('conditional-create');
  app.post<{ Params: TypeParams }>(
    '/fhir/:type',
    { preHandler: guardFor(access, 'write'), schema: { hide: true } },
    async (request, reply) => {
      const { type } = request.params;
      assertType(rt, type);
      const body = requireJsonBody(request);
      const ctx = callContext(request, access);
      const prefer = parsePrefer(request);
      const criteria = request.headers['if-none-exist'];
      const outcome = await rt.db.transaction(async (tx) =>
        typeof criteria === 'string' && criteria.length > 0
          ? conditionalCreate(rt, ctx, tx, body, type, criteria)
          : { created: await createResource(rt, ctx, tx, body, type) },
      );
      if ('existing' in outcome) return sendResource(request, reply, 200, outcome.existing, { prefer });
      const r = outcome.created;
      return sendResource(request, reply, 201, r, {
        prefer,
        location: locationOf(rt, type, r.resource.id as string, r.versionId),
      });
    },
  );
}
