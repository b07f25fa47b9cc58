import { errors } from '../../../platform/http/errors.js';
import { callContext, guardFor, parsePrefer, sendResource } from '../http/request.js';
import { patchResource } from '../store/write.js';
import { assertType, type InstanceParams, type RouteDeps } from './common.js';

/** patch: PATCH [base]/Type/id with a JSON Patch (application/json-patch+json). */
export function registerPatch({ app, rt, access, caps }: RouteDeps): void {
  caps.type.add('patch');
  caps.features.add('if-match');
  app.patch<{ Params: InstanceParams }>(
    '/fhir/:type/:id',
    { preHandler: guardFor(access, 'write'), schema: { hide: true } },
    async (request, reply) => {
      const { type, id } = request.params;
      assertType(rt, type);
      const contentType = request.headers['content-type'] ?? '';
      if (!contentType.startsWith('application/json-patch+json')) {
        throw errors.unsupportedMediaType('PATCH takes a JSON Patch document (application/json-patch+json)');
      }
      const header = request.headers['if-match'];
      const ctx = callContext(request, access);
      const r = await rt.db.transaction((tx) =>
        patchResource(
          rt,
          ctx,
          tx,
          request.body,
          type,
          id,
          typeof header === 'string' ? { ifMatch: header } : {},
        ),
      );
      return sendResource(request, reply, 200, r, { prefer: parsePrefer(request) });
    },
  );
}
