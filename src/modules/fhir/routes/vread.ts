import { callContext, guardFor, sendResource } from '../http/request.js';
import { vreadResource } from '../store/read.js';
import { assertType, type InstanceParams, type RouteDeps } from './common.js';

/** vread: GET [base]/Type/id/_history/vid. */
export function registerVread({ app, rt, access, caps }: RouteDeps): void {
  caps.type.add('vread');
  app.get<{ Params: InstanceParams & { vid: string } }>(
    '/fhir/:type/:id/_history/:vid',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => {
      const { type, id, vid } = request.params;
      assertType(rt, type);
      const result = await vreadResource(rt, callContext(request, access), type, id, vid);
      return sendResource(request, reply, 200, result);
    },
  );
}
