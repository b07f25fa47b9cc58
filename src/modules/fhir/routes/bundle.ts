import type { Bundle } from 'fhir/r4.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { errors } from '../../../platform/http/errors.js';
import { processBatch, processTransaction } from '../bundle/process.js';
import { callContext, parsePrefer, requireJsonBody } from '../http/request.js';
import type { RouteDeps } from './common.js';

/** batch and transaction: POST [base] with a Bundle. */
export function registerBundle({ app, rt, access, caps }: RouteDeps): void {
  caps.system.add('transaction');
  caps.system.add('batch');
  // Authentication only here: each entry is checked for its own type and interaction.
  const authenticated = access.guards?.require();
  app.post(
    '/fhir',
    { ...(authenticated ? { preHandler: authenticated } : {}), schema: { hide: true } },
    async (request, reply) => {
      const bundle = requireJsonBody(request) as Bundle;
      if (bundle.resourceType !== 'Bundle')
        throw errors.badRequest('POST [base] takes a Bundle of type batch or transaction');
      const ctx = callContext(request, access);
      const withResource = parsePrefer(request).return !== 'minimal';
      let result: Bundle;
      if (bundle.type === 'transaction') result = await processTransaction(rt, ctx, bundle, withResource);
      else if (bundle.type === 'batch') result = await processBatch(rt, ctx, bundle, withResource);
      else throw errors.badRequest('POST [base] takes a Bundle of type batch or transaction');
      return reply.type(FHIR_JSON).send(result);
    },
  );
}
