import { callContext, guardFor, sendResource } from '../http/request.js';
import { readResource } from '../store/read.js';
import { assertType, type InstanceParams, type RouteDeps } from './common.js';

/** read: GET [base]/Type/id (410 once deleted). */
export function registerRead({ app, rt, access, caps }: RouteDeps): void {
  caps.type.add('read');
  app.get<{ Params: InstanceParams }>(
    '/fhir/:type/:id',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => {
      const { type, id } = request.params;
      assertType(rt, type);
      const result = await readResource(rt, callContext(request, access), type, id);
      return sendResource(request, reply, 200, result);
    },
  );
}
